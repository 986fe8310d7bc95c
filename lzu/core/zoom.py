"""Zoom: saliency map -> sampling grid (the saliency sampler of Recasens et al. 2018).

Every node of a coarse ``gh x gw`` grid moves to the mean position of its
neighbourhood, weighted by saliency ``S`` times a Gaussian "attraction" kernel,
so nodes crowd where ``S`` is high. Sampling the image on that grid
magnifies salient regions. This is the zoom of LZU (Thavamani et al. 2023).

Conventions used throughout ``lzu``:

* Saliency ``S``: ``(B, 1, gh, gw)``, non-negative, any positive total.
* Grids are ``(B, H, W, 2)`` in **xy order** (``[..., 0]`` = x = column,
  ``[..., 1]`` = y = row), in ``[-1, 1]`` normalised coordinates with
  **align_corners=True** (-1 and +1 are the centres of the first and last pixel),
  exactly what ``torch.nn.functional.grid_sample(..., align_corners=True)`` expects.
* Grid node ``(r, c)`` of the coarse grid sits at output position
  ``(c / (gw - 1), r / (gh - 1))`` in [0, 1] units; the coarse grid says where
  in the *input* image that output position samples.
"""

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "attraction_kernel",
    "saliency_to_grid",
    "upsample_grid",
    "zoom",
]


def attraction_kernel(pad, fwhm, ndim, device=None, dtype=torch.float32):
    """Gaussian attraction kernel of side ``2 * pad + 1``.

    Value ``exp(-4 ln2 d^2 / fwhm^2)`` where ``d`` is the distance (in grid cells)
    to the kernel centre; ``fwhm`` is its full width at half maximum.

    Built in float64 with numpy over ``x = 0 .. 2p`` (centre ``p``) and only then
    cast to ``dtype``, as the paper's code does: the zoom grid's border nodes,
    and so the unzoom's coverage of the last pixel row and column, depend on
    the last bit of these weights.

    Returns a ``(1, 1, 2p+1)`` tensor for ``ndim=1`` and ``(1, 1, 2p+1, 2p+1)``
    for ``ndim=2``, ready for ``conv1d`` / ``conv2d``.
    """
    if not (np.isfinite(fwhm) and fwhm > 0):
        raise ValueError(f"attraction_kernel: fwhm must be a positive number, got {fwhm!r}")
    x = np.arange(0, 2 * pad + 1, 1, dtype=np.float64)
    if ndim == 1:
        d2 = (x - pad) ** 2
    elif ndim == 2:
        d2 = (x[None, :] - pad) ** 2 + (x[:, None] - pad) ** 2
    else:
        raise ValueError(f"attraction_kernel: ndim must be 1 or 2, got {ndim}")
    k = np.exp(-4 * np.log(2) * d2 / fwhm**2)
    return torch.from_numpy(k).to(device=device, dtype=dtype).reshape((1, 1) + k.shape)


def _position_basis(n, pad, device, dtype):
    """Positions of the padded indices ``i = 0 .. n + 2p - 1``: ``(i - p) / (n - 1)``.

    Index ``p`` (the first real node) is at 0, the last real node at 1; padding
    cells lie outside [0, 1]. Computed in float64 and cast to ``dtype`` (the
    paper stores Python floats in a float32 tensor). Shape ``(n + 2p,)``.
    """
    pos = (np.arange(n + 2 * pad, dtype=np.float64) - pad) / (n - 1.0)
    return torch.from_numpy(pos).to(device=device, dtype=dtype)


def _to_grid_coord(weighted_pos, weight):
    """Mean position in [0, 1] -> clamped normalised coordinate in [-1, 1]."""
    return (2.0 * weighted_pos / weight - 1.0).clamp(-1.0, 1.0)


def _correlate_in_order(x, kernel):
    """``conv1d(x, kernel)`` summed tap by tap, left to right: ``(B, 1, L) -> (B, 1, L - K + 1)``.

    Each output is ``((x0 k0 + x1 k1) + x2 k2) + ...`` with every product and sum
    rounded to the input's dtype, a fixed order on every machine. ``F.conv1d``
    hands the sum to a GEMM whose order depends on the CPU's vector width (AVX2 vs
    AVX-512) and the library, which moves 1-2 % of the paper's coarse grid by one
    float32 ulp on some machines; in this order the grid equals the paper's golden
    grids bit for bit (as its float32 sums did).
    """
    taps = kernel.reshape(-1)
    n = x.shape[-1] - taps.shape[0] + 1
    out = x[..., 0:n] * taps[0]
    for i in range(1, taps.shape[0]):
        out = out + x[..., i : i + n] * taps[i]
    return out


def _separable_axis(marginal, pad, kernel, mode):
    """One 1-D attraction pass. ``marginal``: ``(B, 1, n)`` -> coordinates ``(B, n)``."""
    n = marginal.shape[-1]
    padded = F.pad(marginal, (pad, pad), mode=mode)
    pos = _position_basis(n, pad, marginal.device, marginal.dtype)
    num = _correlate_in_order(padded * pos, kernel)
    den = _correlate_in_order(padded, kernel)
    return _to_grid_coord(num, den)[:, 0]


def saliency_to_grid(saliency, attraction_fwhm=10.0, separable=True, anti_crop=True):
    """Turn a saliency map into the coarse sampling grid.

    Args:
        saliency: ``(B, 1, gh, gw)`` non-negative tensor (need not be normalised).
        attraction_fwhm: FWHM of the attraction Gaussian, in grid cells (paper: 10).
        separable: if True (the paper's setting), x comes from the column
            marginal of ``S`` (summed over rows) and y from the row marginal, each
            with a 1-D pass; otherwise both coordinates use 2-D passes.
        anti_crop: pad with ``reflect`` (True) or ``replicate`` (False). Reflection
            pins the border nodes to the image border, so nothing is cropped.

    Returns:
        The coarse grid ``(B, gh, gw, 2)``, xy order, in ``[-1, 1]``
        (align_corners=True convention). Device and dtype follow ``saliency``.
    """
    if saliency.dim() != 4 or saliency.shape[1] != 1:
        raise ValueError(f"saliency must have shape (B, 1, gh, gw), got {tuple(saliency.shape)}")
    b, _, gh, gw = saliency.shape
    if min(gh, gw) < 2:
        raise ValueError(f"saliency grid must be at least 2x2, got {gh}x{gw}")
    pad = min(gh, gw) - 1
    mode = "reflect" if anti_crop else "replicate"

    if separable:
        kernel = attraction_kernel(pad, attraction_fwhm, 1, saliency.device, saliency.dtype)
        xs = _separable_axis(saliency.sum(dim=2), pad, kernel, mode)  # (B, gw)
        ys = _separable_axis(saliency.sum(dim=3), pad, kernel, mode)  # (B, gh)
        grid_x = xs[:, None, :].expand(b, gh, gw)
        grid_y = ys[:, :, None].expand(b, gh, gw)
        return torch.stack((grid_x, grid_y), dim=-1)

    kernel = attraction_kernel(pad, attraction_fwhm, 2, saliency.device, saliency.dtype)
    padded = F.pad(saliency, (pad, pad, pad, pad), mode=mode)
    pos_x = _position_basis(gw, pad, saliency.device, saliency.dtype)[None, :]
    pos_y = _position_basis(gh, pad, saliency.device, saliency.dtype)[:, None]
    den = F.conv2d(padded, kernel)
    grid_x = _to_grid_coord(F.conv2d(padded * pos_x, kernel), den)
    grid_y = _to_grid_coord(F.conv2d(padded * pos_y, kernel), den)
    return torch.cat((grid_x, grid_y), dim=1).permute(0, 2, 3, 1)


def upsample_grid(grid, output_shape):
    """Bilinearly upsample a coarse grid ``(B, gh, gw, 2)`` to ``(B, H, W, 2)``.

    ``output_shape`` is ``(H, W)``. Uses ``align_corners=True`` so the result is
    exactly the piecewise-bilinear map defined by the coarse nodes.
    """
    out = F.interpolate(
        grid.permute(0, 3, 1, 2),
        size=tuple(int(s) for s in output_shape),
        mode="bilinear",
        align_corners=True,
    )
    return out.permute(0, 2, 3, 1)


def zoom(images, grid):
    """Warp ``images`` ``(B, C, H_in, W_in)`` with a full-resolution grid ``(B, H, W, 2)``.

    Returns the zoomed images ``(B, C, H, W)``; ``grid_sample`` with bilinear
    interpolation, zero padding and ``align_corners=True``.
    """
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", align_corners=True)
