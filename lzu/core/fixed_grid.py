"""``FixedGrid``: the paper's grid generator for a fixed (dataset-wide) saliency.

Plain PyTorch; ``lzu.openmmlab`` registers it with mmdet3d so that a
paper config's ``grid_generator=dict(type='FixedGrid', ...)`` works unchanged.
"""

import os

import torch
from torch import nn

from lzu.core.errors import GridSettingError, GridShapeError
from lzu.core.grid_shape import check_grid_settings
from lzu.core.saliency_io import load_saliency, validate_saliency
from lzu.core.zoom import saliency_to_grid, upsample_grid

__all__ = ["FixedGrid", "GridSettingError", "GridShapeError"]


#: saliency dims flipped for each flip direction (mmcv's names)
FLIP_DIMS = {None: (), "horizontal": (3,), "vertical": (2,), "diagonal": (2, 3)}


class FixedGrid(nn.Module):
    """Zoom grid from a fixed saliency map, computed once per device and dtype.

    Args (the paper's config keys, verbatim):
        saliency_file: path of the saliency (pickled tensor, ``.npy`` or
            ``torch.save``), or a tensor of shape ``(1, 1, gh, gw)``.
        output_shape: ``(H, W)`` of the zoomed image, e.g. ``(675, 1200)`` at 0.75x.
        grid_shape: ``(gh, gw)`` of the saliency / coarse grid (paper: 27 x 48).
        separable: separable sampler (paper: True).
        attraction_fwhm: attraction kernel FWHM in grid cells (paper: 10).

    The settings are checked by ``lzu.core.grid_shape.check_grid_settings``.
        anti_crop: reflect padding, which keeps the image borders (paper: True).

    ``forward(imgs)`` returns ``(upsampled_grid, grid)``: ``(B, H, W, 2)`` and
    ``(B, gh, gw, 2)`` in xy order, [-1, 1], align_corners=True, on ``imgs``'s
    device and dtype. The saliency buffer is non-persistent, so checkpoints
    (including the paper's, which have no grid keys) load strictly.
    """

    def __init__(
        self,
        saliency_file,
        output_shape,
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True,
    ):
        super().__init__()
        settings = check_grid_settings(dict(
            output_shape=output_shape, grid_shape=grid_shape, separable=separable,
            attraction_fwhm=attraction_fwhm, anti_crop=anti_crop))
        if settings["grid_shape"] is None:
            raise GridShapeError("grid_generator.grid_shape None: FixedGrid needs the saliency's "
                                 "grid, two whole numbers >= 2 (gh, gw), e.g. 27 48")
        self.grid_shape = settings["grid_shape"]
        self.output_shape = settings["output_shape"]
        self.separable = settings["separable"]
        self.attraction_fwhm = settings["attraction_fwhm"]
        self.anti_crop = settings["anti_crop"]
        if isinstance(saliency_file, torch.Tensor):
            self.saliency_file = None
            saliency = validate_saliency(saliency_file, self.grid_shape)
        else:
            self.saliency_file = os.fspath(saliency_file)
            saliency = load_saliency(self.saliency_file, self.grid_shape)
        self.register_buffer("saliency", saliency, persistent=False)
        self._cache = {}
        self._coarse_grid("cpu")  # refuse, now, a saliency whose grid is not finite

    def grids(self, device, dtype=torch.float32, flip=None):
        """``(upsampled (1, H, W, 2), coarse (1, gh, gw, 2))``, cached per device, dtype,
        ``output_shape`` (so assigning a new ``output_shape`` takes effect) and ``flip``.

        ``flip`` (``None``, ``'horizontal'``, ``'vertical'`` or ``'diagonal'``) flips the
        saliency first: the grid for an image that augmentation flipped.
        """
        key = (torch.device(device), dtype, tuple(self.output_shape), flip)
        if key not in self._cache:
            grid = self._coarse_grid(device, dtype, flip)
            self._cache[key] = (upsample_grid(grid, self.output_shape), grid)
        return self._cache[key]

    def _coarse_grid(self, device, dtype=torch.float32, flip=None):
        """The coarse grid ``(1, gh, gw, 2)``; ``GridSettingError`` if it is not finite."""
        if flip not in FLIP_DIMS:
            raise ValueError(f"flip must be one of {sorted(FLIP_DIMS, key=str)}, got {flip!r}")
        saliency = self.saliency.to(device=device, dtype=dtype)
        if FLIP_DIMS[flip]:
            saliency = saliency.flip(FLIP_DIMS[flip])
        grid = saliency_to_grid(
            saliency,
            attraction_fwhm=self.attraction_fwhm,
            separable=self.separable,
            anti_crop=self.anti_crop,
        )
        if not torch.isfinite(grid).all():
            source = f"'{self.saliency_file}'" if self.saliency_file else "the saliency tensor"
            raise GridSettingError(
                f"the zoom grid of {source} is not finite in {dtype} (saliency max "
                f"{self.saliency.max().item():g}, sum {self.saliency.sum().item():g}): its "
                "values overflow; divide the saliency by its sum (a saliency is a "
                "distribution) and try again")
        return grid

    def forward(self, imgs, *args, **kwargs):
        """Grids for a batch ``imgs`` ``(B, C, H_in, W_in)``; extra args are ignored."""
        upsampled, grid = self.grids(imgs.device, imgs.dtype)
        b = imgs.shape[0]
        return upsampled.expand(b, -1, -1, -1), grid.expand(b, -1, -1, -1)

    def extra_repr(self):
        return (
            f"output_shape={self.output_shape}, grid_shape={self.grid_shape}, "
            f"separable={self.separable}, attraction_fwhm={self.attraction_fwhm}, "
            f"anti_crop={self.anti_crop}, saliency_file={self.saliency_file!r}"
        )
