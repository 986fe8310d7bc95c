"""``AdaptiveGrid``: zoom and inverse grids for a batch of per-image saliencies. Plain PyTorch.

``FixedGrid`` computes one grid per input shape and caches it; with an adaptive
saliency (one map per image, e.g. from the previous frame's detections,
``lzu.core.box_saliency``) every image has its own warp, so nothing can be cached.
Everything here is batched over images: the attraction passes, the bilinear
upsampling and the inverse of every feature level run once for the whole batch,
with no Python loop over images.

Usage::

    grids = AdaptiveGrid(output_shape=(600, 960))
    saliency = boxes_to_saliency(prev_boxes, (1920, 1200), prior=dataset_kde, prior_weight=0.2)
    up, coarse = grids.zoom_grids(saliency)               # (B, H, W, 2), (B, gh, gw, 2)
    zoomed = zoom(images, up)                             # lzu.core.zoom
    inverses = grids.inverse_grids(coarse, [f.shape[-2:] for f in feats])
    feats = [unzoom(f, inv) for f, inv in zip(feats, inverses)]

Conventions as in ``lzu.core.zoom``: grids ``(B, H, W, 2)``, xy order, ``[-1, 1]``,
``align_corners=True``; shapes ``(H, W)``; saliency ``(B, 1, gh, gw)``.
"""

import torch

from lzu.core.errors import GridSettingError
from lzu.core.grid_shape import check_grid_settings
from lzu.core.unzoom import BORDERS, invert_grid
from lzu.core.zoom import saliency_to_grid, upsample_grid

__all__ = ["AdaptiveGrid"]


class AdaptiveGrid:
    """Per-image zoom grids (see the module docstring).

    Args:
        output_shape: ``(H, W)`` of the zoomed images.
        grid_shape: ``(gh, gw)`` of the saliencies it takes (paper: 27 x 48), or ``None``
            (default) for any; the adaptive models set it (their saliencies are built to it).
        separable: separable sampler (paper: True).
        attraction_fwhm: attraction kernel FWHM in grid cells (paper: 10), > 0.
        anti_crop: reflect padding (paper: True).
        border: unzoom border, ``"exact"`` or ``"paper"`` (``lzu.core.unzoom``).

    The settings are checked at construction by ``lzu.core.grid_shape.check_grid_settings``
    (the check ``FixedGrid`` uses): a bad one raises ``GridSettingError``.
    """

    def __init__(self, output_shape, grid_shape=None, separable=True, attraction_fwhm=10.0,
                 anti_crop=True, border="exact"):
        settings = check_grid_settings(dict(
            output_shape=output_shape, grid_shape=grid_shape, separable=separable,
            attraction_fwhm=attraction_fwhm, anti_crop=anti_crop))
        if border not in BORDERS:
            raise GridSettingError(f"grid_generator.border must be one of {BORDERS}, got {border!r}")
        self.output_shape = settings["output_shape"]
        self.grid_shape = settings["grid_shape"]
        self.separable = settings["separable"]
        self.attraction_fwhm = settings["attraction_fwhm"]
        self.anti_crop = settings["anti_crop"]
        self.border = border

    def zoom_grids(self, saliency):
        """``(upsampled (B, H, W, 2), coarse (B, gh, gw, 2))`` for ``saliency`` ``(B, 1, gh, gw)``.

        Device and dtype follow ``saliency``. A map that is not finite and
        non-negative with a positive total per image raises ``ValueError``.
        """
        if saliency.dim() != 4 or saliency.shape[1] != 1:
            raise ValueError(f"saliency must have shape (B, 1, gh, gw), got {tuple(saliency.shape)}")
        if self.grid_shape is not None and tuple(saliency.shape[2:]) != self.grid_shape:
            raise ValueError(f"saliency grid {tuple(saliency.shape[2:])} is not grid_shape "
                             f"{self.grid_shape}")
        if not torch.isfinite(saliency).all() or (saliency < 0).any():
            raise ValueError("saliency must be finite and non-negative")
        if not (saliency.sum(dim=(1, 2, 3)) > 0).all():
            raise ValueError("every image's saliency must have a positive total")
        coarse = saliency_to_grid(saliency, attraction_fwhm=self.attraction_fwhm,
                                  separable=self.separable, anti_crop=self.anti_crop)
        return upsample_grid(coarse, self.output_shape), coarse

    def grids(self, device, dtype=torch.float32, flip=None):
        """Refused: an adaptive grid has no grid without a saliency (``zoom_grids``)."""
        raise ValueError("AdaptiveGrid has one grid per image: call zoom_grids(saliency) (an "
                         "adaptive model computes the saliency from the previous frame's boxes)")

    def inverse_grids(self, coarse, level_shapes):
        """One ``(B, h, w, 2)`` inverse grid per level shape ``(h, w)``, batched over images."""
        return [invert_grid(coarse, tuple(int(s) for s in shape), self.separable, self.border)
                for shape in level_shapes]
