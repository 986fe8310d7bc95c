"""Boxes through the zoom warp: into the zoomed frame and back out (FOVEA's box unwarping). Plain PyTorch.

FOVEA (Thavamani et al. 2021) runs a detector on the zoomed image and maps its
boxes back to the original image ("unwarping"); training boxes go the other way.
Both use the same map as LZU's zoom (``lzu.core.zoom``): the coarse grid
``(1, gh, gw, 2)`` says where zoomed position ``(c / (gw - 1), r / (gh - 1))``
samples the input, and between nodes the map is bilinear.

Box coordinates are continuous pixel coordinates, mmdet's ``(x1, y1, x2, y2)``
with the image spanning ``[0, W] x [0, H]``. They enter the warp as fractions of
the frame: ``t = x / W_zoomed`` in the zoomed frame and ``(g + 1) / 2 = x / W_input``
in the input frame, ``g`` the grid value. With a uniform saliency the grid is the
identity, so unwarping is exactly the rescale by ``W_input / W_zoomed`` that a
uniformly downsampled detector's boxes get. (The image zoom itself samples pixel
centres with ``align_corners=True``; the two conventions differ by under half a
zoomed pixel.)

How a box moves: each edge is sampled at ``samples`` points, every point is mapped,
and the result is the envelope (min / max) of the mapped points. For a separable
grid (the paper's setting) x depends on the column alone and y on the row alone,
both monotone, so the corners alone are exact (``samples`` is ignored); for a
non-separable grid the edges bend and sampling them bounds the curved box, so a
box warped and unwarped is a box containing the original, not the original.

FOVEA's ``unwarp_bboxes`` (its released code) is ``unwarp_boxes`` given the
*full-resolution* grid ``(1, H_z, W_z, 2)`` (the coarse grid upsampled with
``align_corners=True``) in place of the coarse one: a corner ``x`` is normalised by
the zoomed canvas width (``x / W_z``, clamped to ``[0, 1]``: border clamping), read at
grid index ``x / W_z * (W_z - 1)`` bilinearly, and scaled by ``W_input`` (not
``W_input - 1``), and likewise for ``y``. The field being sampled is the only
difference between the two uses: the full-resolution grid linearly interpolates the
coarse map across the pixel that holds a coarse node, a sub-pixel difference. FOVEA's
training path (``lzu.openmmlab.fovea_heads``) passes the full-resolution grid; the
zoomed-frame training path keeps the coarse one. Gradients reach both the boxes and
the grid (a clamped coordinate gets none).

* ``unwarp_boxes`` (zoomed -> input) evaluates the bilinear map directly.
* ``warp_boxes`` (input -> zoomed) needs the inverse map: per axis in closed form
  (separable), or ``lzu.core.unzoom.invert_grid`` at ``inverse_resolution`` nodes
  per tile, sampled bilinearly (non-separable). A point the zoom does not cover
  (possible only without ``anti_crop``) raises ``ValueError``.
"""

import torch
import torch.nn.functional as F

from lzu.core.unzoom import OUTSIDE, invert_grid

__all__ = ["unwarp_boxes", "warp_boxes"]


def _check(boxes, coarse):
    boxes = torch.as_tensor(boxes)
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    if coarse.dim() != 4 or coarse.shape[0] != 1 or coarse.shape[-1] != 2:
        raise ValueError(f"coarse grid must have shape (1, gh, gw, 2), got {tuple(coarse.shape)}")
    if not torch.isfinite(boxes).all():
        raise ValueError("boxes contain NaN or Inf")
    return boxes


def _edge_points(boxes, samples):
    """``(N, P, 2)`` points on the four edges of each box (xy)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    t = torch.linspace(0.0, 1.0, samples, dtype=boxes.dtype, device=boxes.device)[None]
    xs = x1[:, None] + (x2 - x1)[:, None] * t
    ys = y1[:, None] + (y2 - y1)[:, None] * t
    top = torch.stack((xs, y1[:, None].expand_as(xs)), -1)
    bottom = torch.stack((xs, y2[:, None].expand_as(xs)), -1)
    left = torch.stack((x1[:, None].expand_as(ys), ys), -1)
    right = torch.stack((x2[:, None].expand_as(ys), ys), -1)
    return torch.cat((top, bottom, left, right), dim=1)


def _envelope(points):
    return torch.cat((points.amin(dim=1), points.amax(dim=1)), dim=-1)


def _unit_edge_points(boxes, coarse, size, samples):
    """Edge points of ``boxes`` (pixels of an image of ``size = (W, H)``) as fractions of
    the frame, in ``[0, 1]``, in the grid's dtype: ``(N, P, 2)``."""
    width, height = (float(v) for v in size)
    points = _edge_points(boxes.to(coarse.dtype), samples)
    return (points / points.new_tensor([width, height])).clamp(0.0, 1.0)


def _to_pixels(unit_points, size, dtype):
    """Envelope of mapped ``(N, P, 2)`` points in ``[0, 1]`` -> ``(N, 4)`` boxes in pixels."""
    width, height = (float(v) for v in size)
    return (_envelope(unit_points) * unit_points.new_tensor([width, height] * 2)).to(dtype)


def _sample(field, unit_points):
    """Bilinearly sample a ``(1, gh, gw, 2)`` field at ``(N, P, 2)`` points in ``[0, 1]``."""
    n, p, _ = unit_points.shape
    loc = (2.0 * unit_points - 1.0).reshape(1, n * p, 1, 2).to(field.dtype)
    out = F.grid_sample(field.permute(0, 3, 1, 2), loc, mode="bilinear", align_corners=True)
    return out[0, :, :, 0].t().reshape(n, p, 2)


def _separable_inverse(nodes, values):
    """Invert the increasing polyline ``nodes`` (positions in [0, 1] at ``linspace(0, 1, n)``)."""
    n = nodes.shape[0]
    idx = (torch.searchsorted(nodes.contiguous(), values.contiguous(), right=True) - 1).clamp(0, n - 2)
    lo, hi = nodes[idx], nodes[idx + 1]
    frac = torch.where(hi > lo, (values - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(lo))
    return (idx.to(values.dtype) + frac.clamp(0.0, 1.0)) / (n - 1)


def unwarp_boxes(boxes, coarse, zoomed_size, input_size, separable=True, samples=9):
    """Boxes ``(N, 4)`` in the zoomed frame -> the input frame.

    Args:
        boxes: ``(x1, y1, x2, y2)`` pixels of the zoomed image of ``zoomed_size = (W, H)``.
        coarse: the zoom's coarse grid ``(1, gh, gw, 2)`` (xy, [-1, 1], align_corners=True),
            or its full-resolution grid ``(1, H_z, W_z, 2)`` (FOVEA's ``unwarp_bboxes``).
        input_size: ``(W, H)`` of the input image.
        separable: the grid is separable (corners are exact); else edges are sampled.
        samples: points per edge for a non-separable grid.
    Returns ``(N, 4)`` in input pixels, dtype of ``boxes``.
    """
    boxes = _check(boxes, coarse)
    if boxes.shape[0] == 0:
        return boxes.clone()
    unit = _unit_edge_points(boxes, coarse, zoomed_size, 2 if separable else samples)
    mapped = (_sample(coarse, unit) + 1.0) * 0.5
    return _to_pixels(mapped, input_size, boxes.dtype)


def warp_boxes(boxes, coarse, input_size, zoomed_size, separable=True, samples=9,
               inverse_resolution=16):
    """Boxes ``(N, 4)`` in the input frame -> the zoomed frame (envelope of the warped box).

    Args as ``unwarp_boxes``, the other way round; ``inverse_resolution`` is the
    number of inverse-grid samples per coarse tile for a non-separable grid.
    """
    boxes = _check(boxes, coarse)
    if boxes.shape[0] == 0:
        return boxes.clone()
    unit = _unit_edge_points(boxes, coarse, input_size, 2 if separable else samples)
    if separable:
        xs = (coarse[0, 0, :, 0] + 1.0) * 0.5
        ys = (coarse[0, :, 0, 1] + 1.0) * 0.5
        n, p, _ = unit.shape
        u = _separable_inverse(xs, unit[..., 0].reshape(-1)).reshape(n, p)
        v = _separable_inverse(ys, unit[..., 1].reshape(-1)).reshape(n, p)
        mapped = torch.stack((u, v), dim=-1)
    else:
        gh, gw = coarse.shape[1:3]
        shape = ((gh - 1) * inverse_resolution + 1, (gw - 1) * inverse_resolution + 1)
        inverse = invert_grid(coarse, shape, separable=False, border="exact")
        if (inverse == OUTSIDE).any():
            raise ValueError("the zoom does not cover the whole input (anti_crop=False?): "
                             "boxes cannot be warped into it")
        mapped = (_sample(inverse, unit) + 1.0) * 0.5
    return _to_pixels(mapped, zoomed_size, boxes.dtype)
