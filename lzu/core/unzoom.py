"""Unzoom: exact inverse of the piecewise-bilinear zoom warp.

The coarse zoom grid (``lzu.core.zoom.saliency_to_grid``) defines a continuous map
from the zoomed frame to the original frame: coarse node ``(r, c)`` sits at
zoomed position ``(c / (gw - 1), r / (gh - 1))`` and maps to its grid value;
between nodes the map is bilinear (this is what upsampling the coarse grid with
``align_corners=True`` computes). ``invert_grid`` inverts that map at any
feature resolution ``H x W``: for every integer pixel of an ``H x W`` map laid
out like a *uniformly* downsampled image, it finds the tile of the warped grid
that contains the pixel (``lzu.core.warped_tiles``) and the pixel's local
coordinates in that tile, which give the zoomed-frame position to sample.

Two border behaviours (``border=``):

* ``"exact"``: the true inverse, in this module. A pixel on the outer boundary of
  the warped grid up to float rounding (``_EDGE_TOL`` pixels) counts as covered;
  pixels no tile covers get ``OUTSIDE``, far outside [-1, 1], so ``grid_sample``
  (zero padding) returns zeros there.
* ``"paper"``: what the paper's released ``invert_grid`` computes, bit for bit in
  its decisions (``lzu.core.unzoom_paper_border``): a ``1e-8`` coverage slack
  compared in the grid's dtype, the highest-indexed tile wins, and an uncovered
  pixel keeps a sentinel that at coarse levels can land *inside* [-1, 1].

Conventions: grids are ``(B, H, W, 2)``, xy order, ``[-1, 1]``, align_corners=True
(see ``lzu.core.zoom``).
"""

import torch
import torch.nn.functional as F

from lzu.core.unzoom_paper_border import invert_nonseparable_paper, invert_separable_paper
from lzu.core.warped_tiles import cross2d, locate_tiles, pixel_centres, tile_corners, to_pixels

__all__ = ["invert_grid", "unzoom", "OUTSIDE", "BORDERS"]

#: Accepted values of ``invert_grid(..., border=)``.
BORDERS = ("exact", "paper")

#: Coordinate given to uncovered pixels: far enough outside [-1, 1] that bilinear
#: sampling with zero padding returns exactly 0 for any map at least 2 pixels wide.
OUTSIDE = -10.0

#: Slack, in pixels, for a pixel to count as covered when it lies on the outer
#: boundary of the warped grid up to float rounding (``border="exact"``).
_EDGE_TOL = 1e-3


def _feature_hw(input_shape):
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 4:
        return shape[2], shape[3]
    if len(shape) == 2:
        return shape
    raise ValueError(f"input_shape must be (B, C, H, W) or (H, W), got {shape}")


def _lerp_index(seq, values):
    """Invert a non-decreasing piecewise-linear sequence.

    ``seq``: ``(N, n)`` node values, non-decreasing along the last dim.
    ``values``: ``(N, m)`` query values.
    Returns ``(t, covered)``, both ``(N, m)``: ``t`` is the fractional node index in
    ``[0, n - 1]`` with ``seq`` interpolated at ``t`` equal to the query, and
    ``covered`` tells whether the query lies within ``[seq[0], seq[-1]]``.
    """
    n = seq.shape[-1]
    idx = torch.searchsorted(seq.contiguous(), values.contiguous(), right=True) - 1
    idx = idx.clamp(0, n - 2)
    lo = seq.gather(-1, idx)
    hi = seq.gather(-1, idx + 1)
    width = hi - lo
    frac = torch.where(width > 0, (values - lo) / width.clamp_min(1e-12), torch.zeros_like(lo))
    covered = (values >= seq[..., :1] - _EDGE_TOL) & (values <= seq[..., -1:] + _EDGE_TOL)
    return idx.to(values.dtype) + frac.clamp(0.0, 1.0), covered


def _invert_separable(grid, h, w):
    """Closed form per axis: x depends on the column only, y on the row only."""
    b, gh, gw, _ = grid.shape
    xs = to_pixels(grid[:, 0, :, 0], w)  # (B, gw) node x in pixels
    ys = to_pixels(grid[:, :, 0, 1], h)  # (B, gh)
    px = torch.arange(w, device=grid.device, dtype=grid.dtype).expand(b, w)
    py = torch.arange(h, device=grid.device, dtype=grid.dtype).expand(b, h)
    tx, cov_x = _lerp_index(xs, px)  # fractional column of the coarse grid
    ty, cov_y = _lerp_index(ys, py)
    u = 2.0 * tx / (gw - 1) - 1.0
    v = 2.0 * ty / (gh - 1) - 1.0
    u = torch.where(cov_x, u, torch.full_like(u, OUTSIDE))
    v = torch.where(cov_y, v, torch.full_like(v, OUTSIDE))
    return torch.stack((u[:, None, :].expand(b, h, w), v[:, :, None].expand(b, h, w)), dim=-1)


def _solve_bilinear(p00, p01, p10, p11, p):
    """Local coordinates ``(alpha, beta)`` of ``p`` in the bilinear patch.

    The patch is ``P(a, b) = p00 + a e + b f + a b g`` with ``e = p01 - p00``
    (along columns), ``f = p10 - p00`` (along rows), ``g = p00 - p01 - p10 + p11``.
    Eliminating ``a`` gives ``k2 b^2 + k1 b + k0 = 0`` with ``k2 = g x f``,
    ``k1 = e x f + h x g``, ``k0 = h x e`` (``h = p - p00``, ``x`` the 2-D cross
    product). When ``k2`` vanishes (a parallelogram, e.g. any separable tile)
    the equation is linear. Of the two roots we keep the one nearest [0, 1].
    All inputs ``(..., 2)``; returns two ``(...)`` tensors.
    """
    e, f, g, h = p01 - p00, p10 - p00, p00 - p01 - p10 + p11, p - p00
    k2, k1, k0 = cross2d(g, f), cross2d(e, f) + cross2d(h, g), cross2d(h, e)
    scale = cross2d(e, f).abs().clamp_min(1e-12)
    linear = k2.abs() <= 1e-6 * scale
    beta_lin = -k0 / torch.where(k1.abs() > 0, k1, torch.ones_like(k1))
    disc = (k1 * k1 - 4.0 * k2 * k0).clamp_min(0.0)
    sq = torch.sqrt(disc)
    # numerically stable pair of roots: q / k2 and k0 / q
    qq = -0.5 * (k1 + torch.where(k1 >= 0, sq, -sq))
    safe_k2 = torch.where(linear, torch.ones_like(k2), k2)
    safe_q = torch.where(qq.abs() > 0, qq, torch.ones_like(qq))
    r1, r2 = qq / safe_k2, k0 / safe_q

    def dist(t):
        return (t - t.clamp(0.0, 1.0)).abs()

    beta_quad = torch.where(dist(r1) <= dist(r2), r1, r2)
    beta = torch.where(linear, beta_lin, beta_quad)
    den = e + beta[..., None] * g
    use_x = den[..., 0].abs() >= den[..., 1].abs()
    num = h - beta[..., None] * f
    den_sel = torch.where(use_x, den[..., 0], den[..., 1])
    num_sel = torch.where(use_x, num[..., 0], num[..., 1])
    alpha = num_sel / torch.where(den_sel.abs() > 0, den_sel, torch.ones_like(den_sel))
    return alpha, beta


def _local_coords(gx, gy, row, col):
    """Local ``(alpha, beta)`` of every pixel in tile ``(row, col)`` (each ``(B, H, W)``)."""
    b, _, _ = gx.shape
    _, h, w = row.shape
    p = pixel_centres(b, h, w, gx.dtype, gx.device)
    return _solve_bilinear(*tile_corners(gx, gy, row, col), p)


def _invert_nonseparable(grid, h, w):
    """General piecewise-bilinear inverse (``border="exact"``).

    1. Find every pixel's tile (``locate_tiles``).
    2. Solve the bilinear patch of that tile for the local coordinates.
    3. Pixels whose local coordinates fall outside the tile are uncovered.
    Cost ``O(H W log(max(gh, gw)))``; no Python loop over batch or tiles.
    """
    b, gh, gw, _ = grid.shape
    gx = to_pixels(grid[..., 0], w)  # (B, gh, gw)
    gy = to_pixels(grid[..., 1], h)
    row, col = locate_tiles(gx, gy, h, w)
    alpha, beta = _local_coords(gx, gy, row, col)
    tol = 1e-3
    covered = (alpha >= -tol) & (alpha <= 1 + tol) & (beta >= -tol) & (beta <= 1 + tol)
    u = 2.0 * (col.to(grid.dtype) + alpha.clamp(0.0, 1.0)) / (gw - 1) - 1.0
    v = 2.0 * (row.to(grid.dtype) + beta.clamp(0.0, 1.0)) / (gh - 1) - 1.0
    out = torch.stack((u, v), dim=-1)
    return torch.where(covered[..., None], out, torch.full_like(out, OUTSIDE))


def invert_grid(grid, input_shape, separable=True, border="exact"):
    """Inverse sampling grid of a coarse zoom grid, at a feature resolution.

    Args:
        grid: coarse zoom grid ``(B, gh, gw, 2)`` (xy, [-1, 1], align_corners=True),
            as returned by ``lzu.core.zoom.saliency_to_grid``.
        input_shape: shape of the zoomed feature map to unzoom, ``(B, C, H, W)``
            or ``(H, W)``.
        separable: use the closed-form per-axis inverse (valid only for grids
            whose x depends on the column alone and y on the row alone).
        border: ``"exact"`` (the true inverse; uncovered pixels sample zero) or
            ``"paper"`` (the paper's released code, border included); see the
            module docstring.

    Returns:
        ``(B, H, W, 2)`` grid such that
        ``grid_sample(zoomed, inverse, align_corners=True)`` undoes the zoom at
        that resolution. Device and dtype follow ``grid``.
    """
    if grid.dim() != 4 or grid.shape[-1] != 2:
        raise ValueError(f"grid must have shape (B, gh, gw, 2), got {tuple(grid.shape)}")
    if min(grid.shape[1], grid.shape[2]) < 2:
        raise ValueError(f"grid must be at least 2x2 nodes, got {tuple(grid.shape[1:3])}")
    if border not in BORDERS:
        raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
    h, w = _feature_hw(input_shape)
    if h < 1 or w < 1:
        raise ValueError(f"feature map must be non-empty, got {h}x{w}")
    if border == "paper":
        return (invert_separable_paper if separable else invert_nonseparable_paper)(grid, h, w)
    if separable:
        return _invert_separable(grid, h, w)
    return _invert_nonseparable(grid, h, w)


def unzoom(features, inverse_grid):
    """Resample zoomed features ``(B, C, H, W)`` with an inverse grid ``(B, H, W, 2)``."""
    return F.grid_sample(
        features, inverse_grid.to(features.dtype), mode="bilinear", align_corners=True
    )
