"""The tiles of a warped zoom grid, seen from a feature map's pixels.

A coarse zoom grid ``(B, gh, gw, 2)`` (xy, [-1, 1], align_corners=True; see
``lzu.core.zoom``) cuts the original frame into ``(gh - 1) x (gw - 1)`` tiles: tile
``(r, c)`` has corners at nodes ``(r, c)``, ``(r, c + 1)``, ``(r + 1, c)`` and
``(r + 1, c + 1)``. Both inverses of ``lzu.core.unzoom`` (the exact one, and the
paper's in ``lzu.core.unzoom_paper_border``) find each pixel's tile and corners here.

Conventions: node positions are in the pixel units of an ``H x W`` map
(``to_pixels``); a pixel sits at its integer ``(x, y)``.
"""

import torch

__all__ = ["cross2d", "locate_tiles", "pixel_centres", "tile_corners", "to_pixels"]


def to_pixels(coord, size):
    """[-1, 1] (align_corners=True) -> pixel units of a map ``size`` pixels long."""
    return (coord + 1.0) * 0.5 * (size - 1)


def cross2d(a, b):
    """2-D cross product of ``(..., 2)`` vectors, ``(...)``."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


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


def locate_tiles(gx, gy, h, w):
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


def tile_corners(gx, gy, row, col):
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


def pixel_centres(b, h, w, dtype, device):
    """``(B, H, W, 2)`` xy integer positions of every pixel."""
    px = torch.arange(w, device=device, dtype=dtype)
    py = torch.arange(h, device=device, dtype=dtype)
    return torch.stack((px.expand(b, h, w), py[:, None].expand(b, h, w)), dim=-1)
