"""Shared pytest setup: tests run on CPU, deterministically, without downloads."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
#: the paper's golden grids; ``LZU_PAPER_GRIDS`` names another file (the GPU check's
#: ``--golden``, which its own test uses to show that a wrong reference fails stage 1)
PAPER_GRIDS = os.environ.get("LZU_PAPER_GRIDS") or os.path.join(ROOT, "tests", "data",
                                                                "paper_grids.npz")

from lzu.infra.cpu import configure_cpu_environment  # noqa: E402

configure_cpu_environment()  # before torch loads: OpenMP waits passively on a busy machine

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A tiny synthetic nuScenes-format set (2 train + 1 val scene x 3 samples) with v2 infos."""
    from lzu.data.data_prep import create_mono3d_infos
    from lzu.data.synthetic import write_synthetic_nuscenes

    root = str(tmp_path_factory.mktemp("nusc"))
    write_synthetic_nuscenes(root, train_scenes=2, val_scenes=1, samples_per_scene=3, seed=0)
    create_mono3d_infos(root, version="v1.0-mini", max_sweeps=0)
    return root


def run_tool(args, cwd=ROOT, env=None):
    """Run ``python <args>`` in the repository; returns the CompletedProcess (text).

    The tool imports this checkout's ``lzu``: ``PYTHONPATH`` starts with it (as ``run.sh``
    sets it), then holds the caller's (``env``'s, else this process's). No timeout: a slow
    (busy) machine must make a test slow, never make it fail.
    """
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, full_env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env)


class MarkerExploit:
    """Unpickling this would create ``marker``: proof that a loader ran code from a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="session")
def small_cityscapes(tmp_path_factory):
    """A tiny synthetic Cityscapes-layout set (4 train + 2 val frames of 64x128); read only."""
    from lzu.data.synthetic import write_synthetic_cityscapes

    root = str(tmp_path_factory.mktemp("cs3"))
    write_synthetic_cityscapes(root, train_frames=4, val_frames=2, size=(64, 128), seed=0)
    return root


@pytest.fixture(scope="session")
def seg_saliency_root(small_cityscapes):
    """``small_cityscapes`` with the boundary saliency of its training labels as ``s.pkl``."""
    saliency = os.path.join(small_cityscapes, "s.pkl")
    if not os.path.isfile(saliency):
        result = run_tool(["tools/make_saliency.py", "--seg-labels",
                           os.path.join(small_cityscapes, "gtFine", "train"), "--out", saliency])
        assert result.returncode == 0, result.stderr[-2000:]
    return small_cityscapes


@pytest.fixture
def nms_any_dtype(monkeypatch):
    """mmcv's CPU NMS and mmdet's mask pasting take float32 only: float64 models get their NMS
    indices and pasted masks from float32 (indices and 0/1 masks, nothing compared is lost)."""
    import importlib

    nms = importlib.import_module("mmcv.ops.nms")
    apply = nms.NMSop.apply
    monkeypatch.setattr(nms.NMSop, "apply", lambda b, s, *a: apply(b.float(), s.float(), *a))
    head = importlib.import_module("mmdet.models.roi_heads.mask_heads.fcn_mask_head")
    paste = head._do_paste_mask
    monkeypatch.setattr(head, "_do_paste_mask",
                        lambda m, b, *a, **k: paste(m.float(), b.float(), *a, **k))
