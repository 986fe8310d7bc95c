"""The plain-PyTorch CUDA path: zoom grids, zoom, inverse grids and unzoom on CUDA equal the CPU.

Everything here is ``lzu.core`` and torch: no OpenMMLab package is imported, so the GPU
check's stage 1 runs this file (with the golden-grid tests of ``test_paper_fidelity.py``)
before the OpenMMLab stack is installed. Every test compares the GPU with the CPU on the
same inputs; they skip, with the reason, on machines without CUDA. The OpenMMLab part of the
CUDA path is ``tests/test_cuda.py``.
"""

import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import PAPER_GRIDS, ROOT

from lzu.core.fixed_grid import FixedGrid
from lzu.core.unzoom import BORDERS, invert_grid, unzoom
from lzu.core.zoom import zoom

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
GOLDEN = np.load(PAPER_GRIDS)
SALIENCY = osp.join(ROOT, "saliency.pkl")
SCALES = ("0.25", "0.50", "0.75", "1.00")
MODES = {"sep": True, "nonsep": False}
#: CUDA against the CPU, max |diff|
CUDA_ATOL = 1e-5


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("border", ["exact", "paper"])
def test_zoom_and_unzoom_on_cuda_equal_cpu(separable, border):
    gen = FixedGrid(SALIENCY, output_shape=(450, 800), separable=separable)
    imgs = torch.rand(2, 3, 928, 1600)
    results = {}
    for device in ("cpu", "cuda"):
        up, coarse = gen(imgs.to(device))
        zoomed = zoom(imgs.to(device), up)
        feats = F.avg_pool2d(zoomed, 8)
        inv = invert_grid(coarse, feats.shape, separable=separable, border=border)
        results[device] = (coarse, zoomed, inv, unzoom(feats, inv))
    for cpu, gpu in zip(results["cpu"], results["cuda"], strict=True):
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)
    mode = "sep" if separable else "nonsep"
    assert torch.equal(results["cuda"][0][:1].cpu(), torch.from_numpy(GOLDEN[f"s0.50_{mode}_grid"]))


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scale", SCALES)
def test_papers_grids_on_cuda_equal_cpu(scale, mode, border):
    """At the paper's four scales and five FPN level shapes: the coarse and upsampled zoom
    grids, the zoom of a 1600x928 image, the inverse grids and the unzoom of features on CUDA
    equal the CPU's (max |diff| <= 1e-5), and CUDA's coarse grid is the paper's bit for bit."""
    h, w = (int(v) for v in GOLDEN[f"s{scale}_output_shape"])
    shapes = [tuple(int(v) for v in s) for s in GOLDEN[f"s{scale}_level_shapes"]]
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 928, 1600, generator=g)
    feats = [torch.randn(1, 4, *s, generator=g) for s in shapes]
    gen = FixedGrid(SALIENCY, output_shape=(h, w), separable=MODES[mode])
    got = {}
    with torch.no_grad():
        for device in ("cpu", "cuda"):
            up, coarse = gen.grids(device, torch.float32)
            invs = [invert_grid(coarse, f.shape, separable=MODES[mode], border=border) for f in feats]
            got[device] = {
                "coarse": [coarse], "upsampled": [up], "zoom": [zoom(image.to(device), up)],
                "inverse": invs,
                "unzoom": [unzoom(f.to(device), i) for f, i in zip(feats, invs, strict=True)],
            }
    for what, cpu in got["cpu"].items():
        err = max((k.cpu() - c).abs().max().item() for c, k in zip(cpu, got["cuda"][what], strict=True))
        assert err <= CUDA_ATOL, f"{scale}x {mode} {border}: {what}: CUDA - CPU max |diff| {err:.3g}"
    assert torch.equal(got["cuda"]["coarse"][0].cpu(), torch.from_numpy(GOLDEN[f"s{scale}_{mode}_grid"]))
