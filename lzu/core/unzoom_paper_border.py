"""The paper's inverse grid, border included: ``invert_grid(..., border="paper")``.

What the paper's released ``invert_grid`` computes, bit for bit in its decisions
(``lzu.core.unzoom`` holds the exact inverse and the public ``invert_grid``):

* the coarse grid is used as given (no snapping);
* a pixel belongs to a tile when both local coordinates lie in ``[-1e-8, 1 + 1e-8]``,
  compared in the grid's dtype, as torch compares a tensor with a Python float;
* where several tiles qualify, the one with the highest row-major index wins (the
  last write of the paper's scatter);
* a pixel in no tile keeps ``2 * max(H, W)`` in both tile coordinates and is
  normalised like the others, so at coarse levels it can land *inside* [-1, 1] and
  sample a fixed interior feature.

The non-separable local coordinates are computed with the released code's
arithmetic (``_paper_local_coords``) and a correctly rounded square root
(``_ieee_sqrt``), because the float32 border decisions depend on their last bit.

Conventions: grids are ``(B, H, W, 2)``, xy order, ``[-1, 1]``, align_corners=True
(see ``lzu.core.zoom``).
"""

import numpy as np
import torch

from lzu.core.warped_tiles import cross2d, locate_tiles, pixel_centres, tile_corners, to_pixels

__all__ = ["invert_nonseparable_paper", "invert_separable_paper"]

#: The paper's coverage slack on local tile coordinates.
_PAPER_EPS = 1e-8


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


def _paper_finish(t, covered, h, w, gh, gw):
    """Tile coordinates ``t`` ``(B, H, W, 2)`` -> the paper's inverse grid.

    Uncovered pixels get the sentinel in both coordinates; then everything is
    normalised by the tile counts, in the paper's operation order.
    """
    sentinel = torch.tensor(2 * max(h, w), dtype=t.dtype, device=t.device)
    t = torch.where(covered[..., None], t, sentinel)
    return torch.stack((t[..., 0] / (gw - 1) * 2.0 - 1.0, t[..., 1] / (gh - 1) * 2.0 - 1.0), dim=-1)


def invert_separable_paper(grid, h, w):
    """The paper's separable inverse of ``grid`` ``(B, gh, gw, 2)`` at ``h x w``.

    A pixel is in a 2-D tile when its column is in the tile's column span and its
    row in the tile's row span, so coverage is the product of the two axes'.
    """
    b, gh, gw, _ = grid.shape
    tx, cov_x = _paper_axis(to_pixels(grid[:, 0, :, 0], w), w)  # (B, W)
    ty, cov_y = _paper_axis(to_pixels(grid[:, :, 0, 1], h), h)  # (B, H)
    t = torch.stack((tx[:, None, :].expand(b, h, w), ty[:, :, None].expand(b, h, w)), dim=-1)
    covered = cov_y[:, :, None] & cov_x[:, None, :]
    return _paper_finish(t, covered, h, w, gh, gw)


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

    The bilinear patch of ``lzu.core.unzoom``'s exact inverse, evaluated as the
    released code does, in the grid's dtype: corners and pixels relative to
    ``floor(p00)``, the quadratic in the column coordinate ``mu``
    (``(c x d) mu^2 + (c x b + m x d) mu + m x b = 0`` with ``b = p10 - p00``,
    ``c = p01 - p00``, ``d = p00 - p01 - p10 + p11``, ``m = p00 - p``) solved by the
    textbook formula, a root taken only if it lies in [0, 1] (else ``mu = -1``), then
    the row coordinate from the y equation. Its rounding decides which border pixels
    the 1e-8 test keeps.
    """
    b, _, _ = gx.shape
    _, h, w = row.shape
    p00, p01, p10, p11 = tile_corners(gx, gy, row, col)
    ref = torch.floor(p00)
    v00, v01, v10, v11 = p00 - ref, p01 - ref, p10 - ref, p11 - ref
    m = v00 - (pixel_centres(b, h, w, gx.dtype, gx.device) - ref)
    eb, ec, ed = v10 - v00, v01 - v00, v00 - v10 - v01 + v11
    qa, qb, qc = cross2d(ec, ed), cross2d(ec, eb) + cross2d(m, ed), cross2d(m, eb)
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


def invert_nonseparable_paper(grid, h, w):
    """The paper's non-separable inverse of ``grid`` ``(B, gh, gw, 2)`` at ``h x w``.

    Only the tiles touching a pixel can hold it within the paper's 1e-8 slack, so
    the 3 x 3 tiles around the one ``locate_tiles`` finds are tested, and the
    highest-indexed tile that holds the pixel wins, as in the paper's scatter.
    """
    b, gh, gw, _ = grid.shape
    gx = to_pixels(grid[..., 0], w)
    gy = to_pixels(grid[..., 1], h)
    row0, col0 = locate_tiles(gx, gy, h, w)
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
