"""Unzoom: exact inverse of the piecewise-bilinear zoom warp.

The coarse zoom grid (``lzu.zoom.saliency_to_grid``) defines a continuous map
from the zoomed frame to the original frame: coarse node ``(r, c)`` sits at
zoomed position ``(c / (gw - 1), r / (gh - 1))`` and maps to its grid value;
between nodes the map is bilinear (this is what upsampling the coarse grid with
``align_corners=True`` computes). ``invert_grid`` inverts that map at any
feature resolution ``H x W``: for every integer pixel of an ``H x W`` map laid
out like a *uniformly* downsampled image, it finds the tile of the warped grid
that contains the pixel and the pixel's local coordinates in that tile, which
give the zoomed-frame position to sample.

Conventions: grids are ``(B, H, W, 2)``, xy order, ``[-1, 1]``, align_corners=True
(see ``lzu.zoom``). Pixels no tile covers get coordinates far outside [-1, 1],
so ``grid_sample`` (zero padding) returns zeros there.
"""

import torch
import torch.nn.functional as F

__all__ = ["invert_grid", "unzoom", "OUTSIDE"]

#: Coordinate given to uncovered pixels: far enough outside [-1, 1] that bilinear
#: sampling with zero padding returns exactly 0 for any map at least 2 pixels wide.
OUTSIDE = -10.0

#: Slack, in pixels, for a pixel to count as covered when it lies on the outer
#: boundary of the warped grid up to float rounding.
_EDGE_TOL = 1e-3


def _feature_hw(input_shape):
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 4:
        return shape[2], shape[3]
    if len(shape) == 2:
        return shape
    raise ValueError(f"input_shape must be (B, C, H, W) or (H, W), got {shape}")


def _to_pixels(coord, size):
    """[-1, 1] (align_corners=True) -> pixel units of a map ``size`` pixels long."""
    return (coord + 1.0) * 0.5 * (size - 1)


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
    xs = _to_pixels(grid[:, 0, :, 0], w)  # (B, gw) node x in pixels
    ys = _to_pixels(grid[:, :, 0, 1], h)  # (B, gh)
    px = torch.arange(w, device=grid.device, dtype=grid.dtype).expand(b, w)
    py = torch.arange(h, device=grid.device, dtype=grid.dtype).expand(b, h)
    tx, cov_x = _lerp_index(xs, px)  # fractional column of the coarse grid
    ty, cov_y = _lerp_index(ys, py)
    u = 2.0 * tx / (gw - 1) - 1.0
    v = 2.0 * ty / (gh - 1) - 1.0
    u = torch.where(cov_x, u, torch.full_like(u, OUTSIDE))
    v = torch.where(cov_y, v, torch.full_like(v, OUTSIDE))
    return torch.stack((u[:, None, :].expand(b, h, w), v[:, :, None].expand(b, h, w)), dim=-1)


def _lines_at(nodes_along, nodes_across, queries):
    """Evaluate polylines at query coordinates.

    Each polyline ``k`` has nodes ``(along[k, j], across[k, j])``, ``along``
    non-decreasing in ``j``. Returns ``across`` linearly interpolated (and
    linearly extrapolated by the end segments) at every query ``along`` value.
    Shapes: nodes ``(N, K, n)``, queries ``(m,)`` -> ``(N, K, m)``.
    """
    n_, k, n = nodes_along.shape
    q = queries.expand(n_, k, queries.shape[0])
    idx = torch.searchsorted(nodes_along.contiguous(), q.contiguous(), right=True) - 1
    idx = idx.clamp(0, n - 2)
    a0, a1 = nodes_along.gather(-1, idx), nodes_along.gather(-1, idx + 1)
    c0, c1 = nodes_across.gather(-1, idx), nodes_across.gather(-1, idx + 1)
    width = a1 - a0
    t = torch.where(width > 0, (q - a0) / width.clamp_min(1e-12), torch.zeros_like(q))
    return c0 + t * (c1 - c0)


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


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
    k2, k1, k0 = _cross(g, f), _cross(e, f) + _cross(h, g), _cross(h, e)
    scale = _cross(e, f).abs().clamp_min(1e-12)
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


def _invert_nonseparable(grid, h, w):
    """General piecewise-bilinear inverse.

    1. Column line ``c`` (nodes ``(r, c)`` for all ``r``) is a polyline; at every
       pixel row ``y`` it has an x position ``X_c(y)``. Because the warp does not
       fold, ``X_0(y) <= X_1(y) <= ...``, so a pixel's tile column is a
       ``searchsorted`` of its x in that sequence. Rows likewise.
    2. Solve the bilinear patch of that tile for the local coordinates.
    3. Pixels whose local coordinates fall outside the tile are uncovered.
    Cost ``O(H W log(max(gh, gw)))``; no Python loop over batch or tiles.
    """
    b, gh, gw, _ = grid.shape
    gx = _to_pixels(grid[..., 0], w)  # (B, gh, gw)
    gy = _to_pixels(grid[..., 1], h)
    px = torch.arange(w, device=grid.device, dtype=grid.dtype)
    py = torch.arange(h, device=grid.device, dtype=grid.dtype)

    # x of every column line at every pixel row: (B, gw, H) -> (B, H, gw)
    col_x = _lines_at(gy.transpose(1, 2), gx.transpose(1, 2), py).transpose(1, 2)
    # y of every row line at every pixel column: (B, gh, W) -> (B, W, gh)
    row_y = _lines_at(gx, gy, px).transpose(1, 2)

    qx = px.expand(b, h, w)
    qy = py[:, None].expand(b, h, w)
    col = torch.searchsorted(col_x.contiguous(), qx.contiguous(), right=True) - 1
    row = torch.searchsorted(row_y.contiguous(), qy.transpose(1, 2).contiguous(), right=True) - 1
    col = col.clamp(0, gw - 2)
    row = row.transpose(1, 2).clamp(0, gh - 2)

    nodes = torch.stack((gx, gy), dim=-1).reshape(b, gh * gw, 2)

    def corner(dr, dc):
        flat = ((row + dr) * gw + (col + dc)).reshape(b, h * w, 1).expand(b, h * w, 2)
        return nodes.gather(1, flat).reshape(b, h, w, 2)

    p = torch.stack((qx, qy), dim=-1)
    alpha, beta = _solve_bilinear(corner(0, 0), corner(0, 1), corner(1, 0), corner(1, 1), p)
    tol = 1e-3
    covered = (alpha >= -tol) & (alpha <= 1 + tol) & (beta >= -tol) & (beta <= 1 + tol)
    u = 2.0 * (col.to(grid.dtype) + alpha.clamp(0.0, 1.0)) / (gw - 1) - 1.0
    v = 2.0 * (row.to(grid.dtype) + beta.clamp(0.0, 1.0)) / (gh - 1) - 1.0
    out = torch.stack((u, v), dim=-1)
    return torch.where(covered[..., None], out, torch.full_like(out, OUTSIDE))


def invert_grid(grid, input_shape, separable=True):
    """Inverse sampling grid of a coarse zoom grid, at a feature resolution.

    Args:
        grid: coarse zoom grid ``(B, gh, gw, 2)`` (xy, [-1, 1], align_corners=True),
            as returned by ``lzu.zoom.saliency_to_grid``.
        input_shape: shape of the zoomed feature map to unzoom, ``(B, C, H, W)``
            or ``(H, W)``.
        separable: use the closed-form per-axis inverse (valid only for grids
            whose x depends on the column alone and y on the row alone).

    Returns:
        ``(B, H, W, 2)`` grid such that
        ``grid_sample(zoomed, inverse, align_corners=True)`` undoes the zoom at
        that resolution. Device and dtype follow ``grid``.
    """
    if grid.dim() != 4 or grid.shape[-1] != 2:
        raise ValueError(f"grid must have shape (B, gh, gw, 2), got {tuple(grid.shape)}")
    if min(grid.shape[1], grid.shape[2]) < 2:
        raise ValueError(f"grid must be at least 2x2 nodes, got {tuple(grid.shape[1:3])}")
    h, w = _feature_hw(input_shape)
    if h < 1 or w < 1:
        raise ValueError(f"feature map must be non-empty, got {h}x{w}")
    if separable:
        return _invert_separable(grid, h, w)
    return _invert_nonseparable(grid, h, w)


def unzoom(features, inverse_grid):
    """Resample zoomed features ``(B, C, H, W)`` with an inverse grid ``(B, H, W, 2)``."""
    return F.grid_sample(
        features, inverse_grid.to(features.dtype), mode="bilinear", align_corners=True
    )
