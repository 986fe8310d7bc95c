"""Unzoom: exact inverse of the piecewise-bilinear zoom warp.

The coarse zoom grid (``lzu.core.zoom.saliency_to_grid``) defines a continuous map
from the zoomed frame to the original frame: coarse node ``(r, c)`` sits at
zoomed position ``(c / (gw - 1), r / (gh - 1))`` and maps to its grid value;
between nodes the map is bilinear (this is what upsampling the coarse grid with
``align_corners=True`` computes). ``invert_grid`` inverts that map at any
feature resolution ``H x W``: for every integer pixel of an ``H x W`` map laid
out like a *uniformly* downsampled image, it finds the tile of the warped grid
that contains the pixel and the pixel's local coordinates in that tile, which
give the zoomed-frame position to sample.

Two border behaviours (``border=``):

* ``"exact"``: the true inverse. A pixel on the outer boundary of the warped grid
  up to float rounding (``_EDGE_TOL`` pixels) counts as covered; pixels no tile
  covers get ``OUTSIDE``, far outside [-1, 1], so ``grid_sample`` (zero padding)
  returns zeros there.
* ``"paper"``: what the paper's released ``invert_grid`` computes, bit for bit in
  its decisions. The coarse grid is used as given (no snapping); a pixel belongs
  to a tile when both local coordinates lie in ``[-1e-8, 1 + 1e-8]`` (compared in
  the grid's dtype, as torch compares a tensor with a Python float); where several
  tiles qualify the one with the highest row-major index wins (the last write of
  the paper's scatter); a pixel in no tile keeps ``2 * max(H, W)`` in both tile
  coordinates and is normalised like the others, so at coarse levels it can land
  *inside* [-1, 1] and sample a fixed interior feature.

Conventions: grids are ``(B, H, W, 2)``, xy order, ``[-1, 1]``, align_corners=True
(see ``lzu.core.zoom``).
"""

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["invert_grid", "unzoom", "OUTSIDE", "BORDERS"]

#: Accepted values of ``invert_grid(..., border=)``.
BORDERS = ("exact", "paper")

#: Coordinate given to uncovered pixels: far enough outside [-1, 1] that bilinear
#: sampling with zero padding returns exactly 0 for any map at least 2 pixels wide.
OUTSIDE = -10.0

#: Slack, in pixels, for a pixel to count as covered when it lies on the outer
#: boundary of the warped grid up to float rounding (``border="exact"``).
_EDGE_TOL = 1e-3

#: The paper's coverage slack on local tile coordinates (``border="paper"``).
_PAPER_EPS = 1e-8


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


def _paper_bounds(dtype, device):
    """The paper's coverage interval ``[-1e-8, 1 + 1e-8]`` as the grid's dtype sees it."""
    lo = torch.tensor(-_PAPER_EPS, dtype=dtype, device=device)
    hi = torch.tensor(1.0 + _PAPER_EPS, dtype=dtype, device=device)
    return lo, hi


def _paper_axis(nodes, size):
    """One axis of the paper's separable inverse.

    ``nodes``: ``(B, n)`` node positions in pixels; ``size``: pixels on this axis.
    Tile ``c`` spans ``[nodes[c], nodes[c + 1]]``; pixel ``j`` has local coordinate
    ``(j - nodes[c]) / (nodes[c + 1] - nodes[c])`` in every tile, is covered by the
    tiles where it lies in the paper's interval, and takes the highest one.
    Returns ``(t, covered)``, both ``(B, size)``: the tile coordinate ``c + local``
    and whether any tile covers the pixel.
    """
    n = nodes.shape[1]
    lo, hi = _paper_bounds(nodes.dtype, nodes.device)
    px = torch.arange(size, device=nodes.device, dtype=nodes.dtype)
    start, width = nodes[:, :-1, None], (nodes[:, 1:] - nodes[:, :-1])[:, :, None]
    local = (px - start) / width  # (B, n - 1, size)
    inside = (local >= lo) & (local <= hi)
    tiles = torch.arange(1, n, device=nodes.device)[None, :, None]
    last = (inside * tiles).amax(dim=1) - 1  # (B, size); -1 where no tile covers
    alpha = local.gather(1, last.clamp_min(0)[:, None, :])[:, 0]
    return last.to(nodes.dtype) + alpha, last >= 0


def _invert_separable_paper(grid, h, w):
    """The paper's separable inverse (see the module docstring, ``border="paper"``).

    A pixel is in a 2-D tile when its column is in the tile's column span and its
    row in the tile's row span, so coverage is the product of the two axes'.
    """
    b, gh, gw, _ = grid.shape
    tx, cov_x = _paper_axis(_to_pixels(grid[:, 0, :, 0], w), w)  # (B, W)
    ty, cov_y = _paper_axis(_to_pixels(grid[:, :, 0, 1], h), h)  # (B, H)
    t = torch.stack((tx[:, None, :].expand(b, h, w), ty[:, :, None].expand(b, h, w)), dim=-1)
    covered = cov_y[:, :, None] & cov_x[:, None, :]
    return _paper_finish(t, covered, h, w, gh, gw)


def _paper_finish(t, covered, h, w, gh, gw):
    """Tile coordinates ``t`` ``(B, H, W, 2)`` -> the paper's inverse grid.

    Uncovered pixels get the sentinel in both coordinates; then everything is
    normalised by the tile counts, in the paper's operation order.
    """
    sentinel = torch.tensor(2 * max(h, w), dtype=t.dtype, device=t.device)
    t = torch.where(covered[..., None], t, sentinel)
    return torch.stack((t[..., 0] / (gw - 1) * 2.0 - 1.0, t[..., 1] / (gh - 1) * 2.0 - 1.0), dim=-1)


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


def _locate_tiles(gx, gy, h, w):
    """Tile ``(row, col)`` of every pixel of an ``h x w`` map, each ``(B, H, W)``.

    ``gx``, ``gy``: ``(B, gh, gw)`` node positions in pixels. Column line ``c``
    (nodes ``(r, c)`` for all ``r``) is a polyline; at every pixel row ``y`` it has
    an x position ``X_c(y)``. Because the warp does not fold,
    ``X_0(y) <= X_1(y) <= ...``, so a pixel's tile column is a ``searchsorted`` of
    its x in that sequence; rows likewise. Pixels outside the warped grid get the
    nearest tile.
    """
    b, gh, gw = gx.shape
    px = torch.arange(w, device=gx.device, dtype=gx.dtype)
    py = torch.arange(h, device=gx.device, dtype=gx.dtype)
    # x of every column line at every pixel row: (B, gw, H) -> (B, H, gw)
    col_x = _lines_at(gy.transpose(1, 2), gx.transpose(1, 2), py).transpose(1, 2)
    # y of every row line at every pixel column: (B, gh, W) -> (B, W, gh)
    row_y = _lines_at(gx, gy, px).transpose(1, 2)
    qx = px.expand(b, h, w)
    qy = py[:, None].expand(b, h, w)
    col = torch.searchsorted(col_x.contiguous(), qx.contiguous(), right=True) - 1
    row = torch.searchsorted(row_y.contiguous(), qy.transpose(1, 2).contiguous(), right=True) - 1
    return row.transpose(1, 2).clamp(0, gh - 2), col.clamp(0, gw - 2)


def _tile_corners(gx, gy, row, col):
    """Corners ``p00, p01, p10, p11`` (``(B, H, W, 2)``, pixels) of each pixel's tile.

    ``p01`` is one column right of ``p00``, ``p10`` one row down.
    """
    b, gh, gw = gx.shape
    _, h, w = row.shape
    nodes = torch.stack((gx, gy), dim=-1).reshape(b, gh * gw, 2)

    def corner(dr, dc):
        flat = ((row + dr) * gw + (col + dc)).reshape(b, h * w, 1).expand(b, h * w, 2)
        return nodes.gather(1, flat).reshape(b, h, w, 2)

    return corner(0, 0), corner(0, 1), corner(1, 0), corner(1, 1)


def _pixel_centres(b, h, w, dtype, device):
    """``(B, H, W, 2)`` xy integer positions of every pixel."""
    px = torch.arange(w, device=device, dtype=dtype)
    py = torch.arange(h, device=device, dtype=dtype)
    return torch.stack((px.expand(b, h, w), py[:, None].expand(b, h, w)), dim=-1)


def _local_coords(gx, gy, row, col):
    """Local ``(alpha, beta)`` of every pixel in tile ``(row, col)`` (each ``(B, H, W)``)."""
    b, _, _ = gx.shape
    _, h, w = row.shape
    p = _pixel_centres(b, h, w, gx.dtype, gx.device)
    return _solve_bilinear(*_tile_corners(gx, gy, row, col), p)


def _ieee_sqrt(x):
    """Square root correctly rounded to ``x``'s dtype, as IEEE 754 (and CUDA) define it.

    torch's vectorised CPU ``sqrt`` is not correctly rounded on every CPU (on an
    AVX-512 machine about 0.6 % of float32 results are one ulp off), and the paper's
    border decisions depend on the last bit of this root. float32 goes through
    float64 (rounding a float64 root to float32 is correctly rounded), float64 on
    the CPU through numpy (the hardware's ``sqrtsd``).
    """
    if x.dtype in (torch.float16, torch.bfloat16, torch.float32):
        return torch.sqrt(x.double()).to(x.dtype)
    if x.device.type == "cpu" and x.dtype == torch.float64:
        return torch.from_numpy(np.sqrt(x.detach().numpy()))
    return torch.sqrt(x)


def _paper_local_coords(gx, gy, row, col):
    """Local ``(alpha, beta)`` in tile ``(row, col)`` with the paper's arithmetic.

    Same patch as ``_solve_bilinear``, but evaluated as the released code does, in
    the grid's dtype: corners and pixels relative to ``floor(p00)``, the quadratic
    in the column coordinate ``mu`` (``(c x d) mu^2 + (c x b + m x d) mu + m x b = 0``
    with ``b = p10 - p00``, ``c = p01 - p00``, ``d = p00 - p01 - p10 + p11``,
    ``m = p00 - p``) solved by the textbook formula, a root taken only if it lies
    in [0, 1] (else ``mu = -1``), then the row coordinate from the y equation.
    Its rounding decides which border pixels the 1e-8 test keeps.
    """
    b, _, _ = gx.shape
    _, h, w = row.shape
    p00, p01, p10, p11 = _tile_corners(gx, gy, row, col)
    ref = torch.floor(p00)
    v00, v01, v10, v11 = p00 - ref, p01 - ref, p10 - ref, p11 - ref
    m = v00 - (_pixel_centres(b, h, w, gx.dtype, gx.device) - ref)
    eb, ec, ed = v10 - v00, v01 - v00, v00 - v10 - v01 + v11
    qa, qb, qc = _cross(ec, ed), _cross(ec, eb) + _cross(m, ed), _cross(m, eb)
    quadratic = qa.abs() > 1e-10
    safe_qa = torch.where(quadratic, qa, torch.ones_like(qa))
    disc = _ieee_sqrt(qb**2 - 4 * qa * qc)
    none = torch.full_like(qa, -1.0)
    roots = (
        torch.where(quadratic, (-qb + disc) / (2 * safe_qa), none),
        torch.where(quadratic, (-qb - disc) / (2 * safe_qa), none),
        torch.where(quadratic, none, -qc / torch.where(quadratic, torch.ones_like(qb), qb)),
    )
    mu = none
    for root in roots:  # later roots in [0, 1] win, as in the paper
        mu = torch.where((root >= 0) & (root <= 1), root, mu)
    lam = -1 * (m[..., 1] + mu * ec[..., 1]) / (eb[..., 1] + ed[..., 1] * mu)
    return mu, lam


def _invert_nonseparable(grid, h, w):
    """General piecewise-bilinear inverse (``border="exact"``).

    1. Find every pixel's tile (``_locate_tiles``).
    2. Solve the bilinear patch of that tile for the local coordinates.
    3. Pixels whose local coordinates fall outside the tile are uncovered.
    Cost ``O(H W log(max(gh, gw)))``; no Python loop over batch or tiles.
    """
    b, gh, gw, _ = grid.shape
    gx = _to_pixels(grid[..., 0], w)  # (B, gh, gw)
    gy = _to_pixels(grid[..., 1], h)
    row, col = _locate_tiles(gx, gy, h, w)
    alpha, beta = _local_coords(gx, gy, row, col)
    tol = 1e-3
    covered = (alpha >= -tol) & (alpha <= 1 + tol) & (beta >= -tol) & (beta <= 1 + tol)
    u = 2.0 * (col.to(grid.dtype) + alpha.clamp(0.0, 1.0)) / (gw - 1) - 1.0
    v = 2.0 * (row.to(grid.dtype) + beta.clamp(0.0, 1.0)) / (gh - 1) - 1.0
    out = torch.stack((u, v), dim=-1)
    return torch.where(covered[..., None], out, torch.full_like(out, OUTSIDE))


def _invert_nonseparable_paper(grid, h, w):
    """The paper's non-separable inverse (see the module docstring, ``border="paper"``).

    Only the tiles touching a pixel can hold it within the paper's 1e-8 slack, so
    the 3 x 3 tiles around the one ``_locate_tiles`` finds are tested, and the
    highest-indexed tile that holds the pixel wins, as in the paper's scatter.
    """
    b, gh, gw, _ = grid.shape
    gx = _to_pixels(grid[..., 0], w)
    gy = _to_pixels(grid[..., 1], h)
    row0, col0 = _locate_tiles(gx, gy, h, w)
    lo, hi = _paper_bounds(grid.dtype, grid.device)
    best = torch.full_like(row0, -1)
    t = torch.zeros(b, h, w, 2, dtype=grid.dtype, device=grid.device)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            row, col = row0 + dr, col0 + dc
            valid = (row >= 0) & (row <= gh - 2) & (col >= 0) & (col <= gw - 2)
            row, col = row.clamp(0, gh - 2), col.clamp(0, gw - 2)
            alpha, beta = _paper_local_coords(gx, gy, row, col)
            flat = row * (gw - 1) + col
            take = valid & (alpha >= lo) & (alpha <= hi) & (beta >= lo) & (beta <= hi) & (flat > best)
            best = torch.where(take, flat, best)
            cand = torch.stack((col.to(grid.dtype) + alpha, row.to(grid.dtype) + beta), dim=-1)
            t = torch.where(take[..., None], cand, t)
    return _paper_finish(t, best >= 0, h, w, gh, gw)


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
        return (_invert_separable_paper if separable else _invert_nonseparable_paper)(grid, h, w)
    if separable:
        return _invert_separable(grid, h, w)
    return _invert_nonseparable(grid, h, w)


def unzoom(features, inverse_grid):
    """Resample zoomed features ``(B, C, H, W)`` with an inverse grid ``(B, H, W, 2)``."""
    return F.grid_sample(
        features, inverse_grid.to(features.dtype), mode="bilinear", align_corners=True
    )
