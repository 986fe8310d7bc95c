"""``LZU``: zoom a batch before any backbone, unzoom its feature maps after. Plain PyTorch.

Usage with any model whose features are a list of 2-D maps (no OpenMMLab needed)::

    lzu = LZU(FixedGrid("saliency.pkl", output_shape=(512, 512)), pad_size_divisor=32)
    zoomed, state = lzu.zoom(images, image_shapes=[(h, w) for each image])
    feats = lzu.unzoom(backbone(zoomed), state)      # tuple/list/dict of (B, C, H_l, W_l)
    # feats now look like backbone(uniformly resized images); state.scales[b] = (sx, sy)

Conventions: images ``(B, C, Hp, Wp)`` (each image's valid region top-left, the
rest padding, as mmdet batches them); grids xy order, ``[-1, 1]``,
``align_corners=True``; shapes ``(H, W)``.

Two ways to define the frame (``region``):

* ``"image"`` (default): each image's own valid region ``image_shapes[b]`` is zoomed
  to the whole ``output_shape``, whatever its size or aspect ratio (anisotropic
  and upsampling zooms are fine), so ``scales[b] = (W / w_b, H / h_b)``. The unzoom
  maps every level back onto the valid part of a uniformly resized
  ``output_shape`` image (the level's padding keeps its own values).
* ``"padded"``: the paper's 3-D code. The whole padded batch tensor is zoomed with
  one grid, and every level is unzoomed with the inverse grid of its whole padded
  shape. ``scales`` are ``(W / Wp, H / Hp)``.

Per-image grids (adaptive saliency, ``lzu.core.adaptive_grid``): pass
``grids=(upsampled (B, H, W, 2), coarse (B, gh, gw, 2))`` to ``zoom``, each image's
grid already in that image's own (possibly flipped) frame; the state then carries
the coarse grids and ``unzoom`` inverts them batched, per level (no cache, no loop
over images).

Augmentation: a fixed saliency describes the un-augmented frame. With
``follow_flips`` (default), an image that was flipped gets the grid of the flipped
saliency (``flips[b]``: ``None``, ``'horizontal'``, ``'vertical'``, ``'diagonal'``).

The grid generator needs ``output_shape``, ``separable`` and
``grids(device, dtype, flip) -> (upsampled (1, H, W, 2), coarse (1, gh, gw, 2))``
(``lzu.core.fixed_grid.FixedGrid``). Inverse grids are cached per level shape,
device, dtype, flip and border.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from lzu.core.padding import PadStep, pad, padded_shape
from lzu.core.unzoom import BORDERS, invert_grid, unzoom
from lzu.core.zoom import zoom

__all__ = ["LZU", "REGIONS", "ZoomState"]

#: accepted values of ``LZU(region=...)``
REGIONS = ("image", "padded")


@dataclass
class ZoomState:
    """What ``LZU.unzoom`` needs from ``LZU.zoom``.

    Attributes:
        output_shape: ``(H, W)`` of the zoomed image (before padding).
        padded_shape: ``(Hz, Wz)``: ``output_shape`` padded to the divisor.
        scales: per image ``(sx, sy)``, zoomed size over the image's own size.
        flips: per image flip direction (``None`` when not flipped or not followed).
        dtype, device: of the grids.
        coarse: ``(B, gh, gw, 2)`` per-image coarse grids (adaptive saliency), else ``None``.
    """

    output_shape: tuple
    padded_shape: tuple
    scales: list
    flips: list
    dtype: torch.dtype
    device: torch.device
    coarse: torch.Tensor = None


class LZU(nn.Module):
    """Zoom / unzoom around any backbone (see the module docstring).

    Args:
        grid_generator: e.g. ``FixedGrid``.
        border: unzoom border behaviour, ``"exact"`` or ``"paper"`` (``lzu.core.unzoom``).
        region: ``"image"`` (default) or ``"padded"`` (the paper's 3-D code).
        pad_size_divisor: the zoomed batch is padded to a multiple of this (shorthand for
            ``padding=[PadStep(size_divisor=pad_size_divisor)]``).
        padding: the steps the zoomed batch is padded by (``lzu.core.padding.PadStep``), in
            place of ``pad_size_divisor``: those a model's own input of the zoomed size gets.
        follow_flips: use the flipped saliency for flipped images.
    """

    def __init__(self, grid_generator, border="exact", region="image", pad_size_divisor=1,
                 follow_flips=True, padding=None):
        super().__init__()
        if border not in BORDERS:
            raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
        self.grid_generator = grid_generator
        self.border = border
        self.region = region
        self.padding = (tuple(padding) if padding is not None
                        else (PadStep(size_divisor=max(1, int(pad_size_divisor))),))
        self.follow_flips = bool(follow_flips)
        self._inverse_cache = {}

    @property
    def output_shape(self):
        return tuple(int(s) for s in self.grid_generator.output_shape)

    def padded(self, shape):
        """``shape`` ``(H, W)`` after the zoomed batch's padding."""
        return padded_shape(shape, self.padding)

    def _flips(self, b, flips):
        if not self.follow_flips or flips is None:
            return [None] * b
        if len(flips) != b:
            raise ValueError(f"got {len(flips)} flips for a batch of {b}")
        return list(flips)

    def zoom(self, images, image_shapes=None, flips=None, grids=None):
        """Zoom ``images`` ``(B, C, Hp, Wp)``; returns ``(zoomed (B, C, Hz, Wz), ZoomState)``.

        ``image_shapes``: each image's valid ``(h, w)`` (default: the whole tensor);
        used with ``region="image"``. ``flips``: each image's flip direction.
        ``grids``: per-image ``(upsampled (B, H, W, 2), coarse (B, gh, gw, 2))`` grids of
        an adaptive saliency, each in its image's own frame (flips are then ignored).
        """
        b, _, hp, wp = images.shape
        h, w = self.output_shape
        flips = self._flips(b, flips)
        if self.region == "padded" or image_shapes is None:
            image_shapes = [(hp, wp)] * b
        if len(image_shapes) != b:
            raise ValueError(f"got {len(image_shapes)} image shapes for a batch of {b}")
        if grids is not None:
            return self._zoom_per_image(images, image_shapes, grids)
        grids = []
        for (hb, wb), flip in zip(image_shapes, flips, strict=True):
            up, _ = self.grid_generator.grids(images.device, images.dtype, flip)
            if (hb, wb) != (hp, wp):  # the image's own region inside the padded tensor
                scale = up.new_tensor([(wb - 1) / max(wp - 1, 1), (hb - 1) / max(hp - 1, 1)])
                up = (up + 1) * scale - 1
            grids.append(up)
        zoomed = pad(zoom(images, torch.cat(grids, dim=0)), self.padding)
        hz, wz = zoomed.shape[-2:]
        scales = [(w / float(wb), h / float(hb)) for hb, wb in image_shapes]
        state = ZoomState((h, w), (hz, wz), scales, flips, images.dtype, images.device)
        return zoomed, state

    def _zoom_per_image(self, images, image_shapes, grids):
        b, _, hp, wp = images.shape
        h, w = self.output_shape
        up, coarse = grids
        if up.shape[0] != b or coarse.shape[0] != b or tuple(up.shape[1:3]) != (h, w):
            raise ValueError(f"per-image grids {tuple(up.shape)} / {tuple(coarse.shape)} do not "
                             f"fit a batch of {b} zoomed to {(h, w)}")
        up = up.to(device=images.device, dtype=images.dtype)
        scale = up.new_tensor([[(wb - 1) / max(wp - 1, 1), (hb - 1) / max(hp - 1, 1)]
                               for hb, wb in image_shapes])
        zoomed = pad(zoom(images, (up + 1) * scale[:, None, None, :] - 1), self.padding)
        hz, wz = zoomed.shape[-2:]
        scales = [(w / float(wb), h / float(hb)) for hb, wb in image_shapes]
        state = ZoomState((h, w), (hz, wz), scales, [None] * b, images.dtype, images.device,
                          coarse.to(device=images.device, dtype=images.dtype))
        return zoomed, state

    def _invert(self, coarse, level_shape, state):
        """Inverse grids ``(B, h, w, 2)`` of ``coarse`` for a level (the region's extent)."""
        hl, wl = level_shape
        if self.region == "padded":
            return invert_grid(coarse, (hl, wl), self.grid_generator.separable, self.border)
        (h, w), (hz, wz) = state.output_shape, state.padded_shape
        vh = min(hl, math.ceil(h * hl / hz))  # the level's valid extent
        vw = min(wl, math.ceil(w * wl / wz))
        inv = invert_grid(coarse, (vh, vw), self.grid_generator.separable, self.border)
        scale = inv.new_tensor([(vw - 1) / max(wl - 1, 1), (vh - 1) / max(hl - 1, 1)])
        return (inv + 1) * scale - 1

    def inverse_grid(self, level_shape, state, flip=None):
        """``(1, h, w, 2)`` inverse grid for a level of ``level_shape``, cached."""
        key = (tuple(level_shape), state.output_shape, state.padded_shape, state.device,
               state.dtype, flip, self.border, self.region)
        if key not in self._inverse_cache:
            _, coarse = self.grid_generator.grids(state.device, state.dtype, flip)
            self._inverse_cache[key] = self._invert(coarse, level_shape, state)
        return self._inverse_cache[key]

    def _unzoom_level(self, feat, state):
        b = feat.shape[0]
        if state.coarse is not None:  # per-image grids: inverted batched, every call
            grid = self._invert(state.coarse, tuple(feat.shape[-2:]), state)
        elif all(f == state.flips[0] for f in state.flips):
            grid = self.inverse_grid(feat.shape[-2:], state, state.flips[0]).expand(b, -1, -1, -1)
        else:
            grid = torch.cat([self.inverse_grid(feat.shape[-2:], state, flip)
                              for flip in state.flips], dim=0)
        out = unzoom(feat, grid)
        if out.shape[-2:] == feat.shape[-2:]:
            return out
        vh, vw = out.shape[-2:]
        full = feat.clone()  # padding keeps its own values
        full[..., :vh, :vw] = out
        return full

    def unzoom(self, features, state):
        """Unzoom every map of ``features`` (tuple, list or dict of ``(B, C, H_l, W_l)``)."""
        if isinstance(features, dict):
            return {k: self._unzoom_level(f, state) for k, f in features.items()}
        if torch.is_tensor(features):
            return self._unzoom_level(features, state)
        return type(features)(self._unzoom_level(f, state) for f in features)

    def extra_repr(self):
        return (f"border={self.border!r}, region={self.region!r}, "
                f"padding={self.padding}, follow_flips={self.follow_flips}")
