"""The LZU core: zoom grid from saliency, its exact inverse, FixedGrid. Plain PyTorch."""

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import MarkerExploit

from lzu.core.fixed_grid import FixedGrid
from lzu.core.saliency_io import SaliencyError, save_saliency
from lzu.core.unzoom import OUTSIDE, invert_grid, unzoom
from lzu.core.zoom import attraction_kernel, saliency_to_grid, upsample_grid, zoom

GRID = (27, 48)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def identity_grid(h, w, dtype=torch.float32, device="cpu"):
    """(1, h, w, 2) identity grid, xy order, align_corners=True."""
    ys = torch.linspace(-1, 1, h, dtype=dtype, device=device)
    xs = torch.linspace(-1, 1, w, dtype=dtype, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1)[None]


def horizon_saliency(batch=1, dtype=torch.float32, seed=0):
    """Peaked, non-separable saliency like the paper's: a bright horizon band + noise."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.arange(GRID[0], dtype=torch.float64)[:, None]
    cols = torch.arange(GRID[1], dtype=torch.float64)[None, :]
    band = torch.exp(-0.5 * ((rows - 14) / 2.0) ** 2) * (1 + 0.5 * torch.cos(cols / 7.0))
    s = 0.3 / (GRID[0] * GRID[1]) + band / band.sum()
    s = s[None, None].repeat(batch, 1, 1, 1)
    s = s * (1 + 0.3 * torch.rand(s.shape, generator=g, dtype=torch.float64))
    return (s / s.sum(dim=(2, 3), keepdim=True)).to(dtype)


def compose_forward(coarse, positions):
    """Evaluate the piecewise-bilinear forward warp at ``positions`` (B, H, W, 2).

    ``grid_sample`` on the coarse grid with align_corners=True is exactly that map.
    """
    return F.grid_sample(coarse.permute(0, 3, 1, 2), positions, align_corners=True).permute(
        0, 2, 3, 1
    )


# --------------------------------------------------------------------- zoom


def test_kernel_matches_fwhm_definition():
    k = attraction_kernel(pad=26, fwhm=10, ndim=1)[0, 0]
    assert k.shape == (53,)
    assert k[26] == 1.0
    # half maximum at distance fwhm / 2 from the centre
    assert math.isclose(k[26 + 5].item(), 0.5, rel_tol=1e-6)
    k2 = attraction_kernel(pad=3, fwhm=4, ndim=2)[0, 0]
    assert k2.shape == (7, 7)
    assert torch.allclose(k2, torch.outer(k2[3], k2[:, 3]))


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("anti_crop", [True, False])
def test_uniform_saliency_gives_identity(separable, anti_crop):
    s = torch.full((1, 1) + GRID, 1.0 / (GRID[0] * GRID[1]))
    grid = saliency_to_grid(s, separable=separable, anti_crop=anti_crop)
    assert grid.shape == (1, 27, 48, 2)
    torch.testing.assert_close(grid, identity_grid(*GRID), atol=1e-5, rtol=0)
    up = upsample_grid(grid, (90, 160))
    torch.testing.assert_close(up, identity_grid(90, 160), atol=1e-5, rtol=0)


@pytest.mark.parametrize("separable", [True, False])
def test_grid_is_monotone_for_random_saliency(separable):
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        s = torch.rand((3, 1) + GRID, generator=g) ** 4 + 1e-3
        grid = saliency_to_grid(s, separable=separable)
        assert (grid[..., 0].diff(dim=2) >= 0).all(), "x folds along a row"
        assert (grid[..., 1].diff(dim=1) >= 0).all(), "y folds along a column"
        assert grid.abs().max() <= 1.0


def test_separable_and_nonseparable_agree_on_rank1_saliency():
    g = torch.Generator().manual_seed(2)
    u = torch.rand(GRID[0], generator=g, dtype=torch.float64) + 0.05
    v = torch.rand(GRID[1], generator=g, dtype=torch.float64) + 0.05
    s = torch.outer(u, v)[None, None]
    for anti_crop in (True, False):
        a = saliency_to_grid(s, separable=True, anti_crop=anti_crop)
        b = saliency_to_grid(s, separable=False, anti_crop=anti_crop)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_saliency_magnifies_the_salient_band():
    s = horizon_saliency()
    grid = saliency_to_grid(s, separable=True)
    ys = grid[0, :, 0, 1]
    steps = ys.diff()
    # nodes crowd (small input steps = magnification) around the band at row 14
    assert steps[12:16].mean() < 0.6 * steps[:4].mean()
    # anti_crop pins the borders: nothing of the image is cropped
    assert abs(ys[0] + 1) < 1e-6 and abs(ys[-1] - 1) < 1e-6


def test_zoom_is_grid_sample_on_full_image():
    img = torch.rand(2, 3, 90, 160)
    up = upsample_grid(saliency_to_grid(horizon_saliency(2)), (45, 80))
    out = zoom(img, up)
    assert out.shape == (2, 3, 45, 80)
    torch.testing.assert_close(out, F.grid_sample(img, up, align_corners=True))


# ------------------------------------------------------------------- unzoom


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("shape", [(88, 152), (11, 19), (2, 4)])
def test_inverse_composed_with_warp_is_identity(separable, shape):
    """forward(inverse(p)) == p at every pixel centre.

    Both maps are evaluated exactly (piecewise bilinear), so the only error is
    float64 rounding; 1e-9 in [-1, 1] units is ~1e-7 pixel at these sizes.
    """
    grid = saliency_to_grid(horizon_saliency(2, torch.float64), separable=separable)
    inverse = invert_grid(grid, shape, separable=separable)
    assert inverse.shape == (2,) + shape + (2,)
    assert (inverse != OUTSIDE).all(), "anti_crop grid must cover every pixel"
    back = compose_forward(grid, inverse)
    torch.testing.assert_close(back, identity_grid(*shape, torch.float64).expand_as(back),
                               atol=1e-9, rtol=0)


def test_inverse_float32_error_is_subpixel():
    """float32: |forward(inverse(p)) - p| below 1e-4 (= 0.05 px on a 1000 px map)."""
    grid = saliency_to_grid(horizon_saliency(1), separable=False)
    inverse = invert_grid(grid, (88, 152), separable=False)
    back = compose_forward(grid, inverse)
    assert (back - identity_grid(88, 152)).abs().max() < 1e-4


def test_separable_inverse_equals_nonseparable_solver_on_separable_grid():
    grid = saliency_to_grid(horizon_saliency(2, torch.float64), separable=True)
    a = invert_grid(grid, (40, 70), separable=True)
    b = invert_grid(grid, (40, 70), separable=False)
    torch.testing.assert_close(a, b, atol=1e-9, rtol=0)


@pytest.mark.parametrize("separable", [True, False])
def test_uncovered_pixels_sample_zero(separable):
    """Without anti_crop the border nodes move inwards: the rim is not covered."""
    s = horizon_saliency()
    grid = saliency_to_grid(s, separable=separable, anti_crop=False)
    inverse = invert_grid(grid, (30, 50), separable=separable)
    uncovered = (inverse == OUTSIDE).any(dim=-1)
    assert uncovered[0, 0].all() and uncovered[0, -1].all()  # top and bottom rows
    assert not uncovered[0, 15, 25]  # the centre is covered
    feats = torch.ones(1, 4, 30, 50)
    out = unzoom(feats, inverse)
    assert (out[:, :, uncovered[0]] == 0).all()
    assert (out[:, :, ~uncovered[0]] > 0).all()


def test_zoom_then_unzoom_reproduces_smooth_image():
    """unzoom(zoom(img)) ~ uniform downsample of img, away from the border.

    The image is a sum of sinusoids with periods >= 1/4 of its size. Both paths
    are bilinear resamplings of it; the zoomed path resamples twice, and the
    second resampling happens on a map at most ~2.5x coarser than the input
    locally. For a band-limited image with such long periods the interpolation
    error is below 1% of the signal range, i.e. PSNR > 40 dB; we require 35 dB.
    """
    h, w = 360, 640
    ys = torch.linspace(0, 1, h)[:, None]
    xs = torch.linspace(0, 1, w)[None, :]
    img = 0.5 + 0.2 * torch.sin(2 * math.pi * (2 * xs + ys)) + 0.2 * torch.cos(2 * math.pi * 3 * ys)
    img = img.expand(1, 3, h, w).contiguous()
    out_shape = (180, 320)
    for separable in (True, False):
        grid = saliency_to_grid(horizon_saliency(), separable=separable)
        zoomed = zoom(img, upsample_grid(grid, out_shape))
        restored = unzoom(zoomed, invert_grid(grid, out_shape, separable=separable))
        reference = F.grid_sample(img, identity_grid(*out_shape), align_corners=True)
        inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
        mse = F.mse_loss(restored[inner], reference[inner]).item()
        psnr = 10 * math.log10(1.0 / mse)
        assert psnr > 35.0, f"separable={separable}: PSNR {psnr:.1f} dB"


@pytest.mark.parametrize("separable", [True, False])
def test_batch_elements_are_independent(separable):
    """Same per-sample result at batch 1 and 4, up to float32 rounding of the
    batched convolution's reductions (a few ulp, ~1e-6 in [-1, 1] units)."""
    s = horizon_saliency(4)
    grid4 = saliency_to_grid(s, separable=separable)
    inv4 = invert_grid(grid4, (33, 57), separable=separable)
    for i in range(4):
        grid1 = saliency_to_grid(s[i : i + 1], separable=separable)
        torch.testing.assert_close(grid4[i : i + 1], grid1, atol=2e-6, rtol=0)
        torch.testing.assert_close(
            inv4[i : i + 1], invert_grid(grid1, (33, 57), separable=separable), atol=2e-5, rtol=0
        )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("separable", [True, False])
def test_dtype_device_and_gradients(device, dtype, separable):
    s = horizon_saliency(2, dtype).to(device).requires_grad_(True)
    grid = saliency_to_grid(s, separable=separable)
    assert grid.dtype == dtype and grid.device.type == device
    img = torch.rand(2, 3, 36, 64, dtype=dtype, device=device, requires_grad=True)
    zoomed = zoom(img, upsample_grid(grid, (18, 32)))
    inverse = invert_grid(grid, zoomed.shape, separable=separable)
    assert inverse.dtype == dtype and inverse.device.type == device
    out = unzoom(zoomed, inverse)
    out.square().sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    assert s.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


# ---------------------------------------------------------------- FixedGrid


def write_pickle(tmp_path, tensor, name="saliency.pkl"):
    path = tmp_path / name
    with open(path, "wb") as f:
        pickle.dump(tensor, f)
    return path


def test_fixed_grid_reads_paper_format_and_others(tmp_path):
    s = horizon_saliency()
    paper = write_pickle(tmp_path, s)
    npy = tmp_path / "s.npy"
    np.save(npy, s.numpy())
    pt = tmp_path / "s.pt"
    torch.save(s, pt)
    grids = [FixedGrid(str(p), (60, 100)) for p in (paper, npy, pt)]
    imgs = torch.zeros(3, 3, 90, 160)
    up, coarse = grids[0](imgs)
    assert up.shape == (3, 60, 100, 2) and coarse.shape == (3, 27, 48, 2)
    torch.testing.assert_close(coarse[0], saliency_to_grid(s)[0])
    for other in grids[1:]:
        torch.testing.assert_close(other(imgs)[0], up, atol=0, rtol=0)


def test_fixed_grid_has_no_persistent_state(tmp_path):
    grid = FixedGrid(str(write_pickle(tmp_path, horizon_saliency())), (60, 100))
    assert grid.state_dict() == {}
    grid.load_state_dict({}, strict=True)


def test_fixed_grid_caches_per_device_and_dtype(tmp_path):
    grid = FixedGrid(str(write_pickle(tmp_path, horizon_saliency())), (60, 100))
    a = grid.grids("cpu", torch.float32)
    assert grid.grids("cpu", torch.float32)[0] is a[0]
    b = grid.grids("cpu", torch.float64)
    assert b[0].dtype == torch.float64
    torch.testing.assert_close(a[0].double(), b[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.ones(1, 1, 27, 47), "does not match grid_shape"),
        (torch.full((1, 1, 27, 48), float("nan")), "NaN or Inf"),
        (torch.full((1, 1, 27, 48), float("inf")), "NaN or Inf"),
        (-torch.ones(1, 1, 27, 48), "negative"),
        (torch.zeros(1, 1, 27, 48), "sums to zero"),
        ({"saliency": 1}, "expected a tensor"),
    ],
)
def test_fixed_grid_rejects_bad_saliency_naming_the_file(tmp_path, bad, message):
    path = write_pickle(tmp_path, bad, "bad.pkl")
    with pytest.raises(SaliencyError, match=message) as err:
        FixedGrid(str(path), (60, 100))
    assert "bad.pkl" in str(err.value)


def test_fixed_grid_missing_file(tmp_path):
    with pytest.raises(SaliencyError, match="not found"):
        FixedGrid(str(tmp_path / "nope.pkl"), (60, 100))


def test_save_saliency_round_trip(tmp_path):
    s = horizon_saliency()
    save_saliency(s, tmp_path / "out" / "saliency.pkl")
    with open(tmp_path / "out" / "saliency.pkl", "rb") as f:
        assert torch.equal(pickle.load(f), s)  # the paper's reader: plain pickle
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["saliency.pkl"]


def test_crafted_saliency_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = write_pickle(tmp_path, MarkerExploit(str(marker)), "evil.pkl")
    with pytest.raises(pickle.UnpicklingError, match="io.open") as err:
        FixedGrid(str(path), (60, 100))
    assert "evil.pkl" in str(err.value)
    assert not marker.exists()
