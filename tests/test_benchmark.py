"""The latency benchmark on every task: 2-D detection (fake frames) and segmentation (a data set)."""

import json
import os.path as osp
import pickle

import pytest
import torch
from conftest import run_tool

SEG_LZU = "configs/seg/demo/lzu_fcn_demo.py"
SEG_UNIFORM = "configs/seg/demo/fcn_uniform_demo.py"


@pytest.mark.parametrize("configs, data", [
    (["configs/det2d/demo/fcos_uniform_demo.py", "configs/det2d/demo/lzu_fcos_demo.py"], None),
    pytest.param(["configs/det2d/faster_rcnn_uniform_0.50.py",
                  "configs/det2d/lzu_faster_rcnn_0.50.py"], None, marks=pytest.mark.slow),
    ([SEG_UNIFORM, SEG_LZU], "cityscapes"),
])
def test_benchmark_runs_on_2d_detection_and_segmentation_configs(tmp_path, small_cityscapes,
                                                                 seg_saliency_root, configs, data):
    opts = []
    if data:
        opts = ["--data-root", small_cityscapes, "--saliency", osp.join(seg_saliency_root, "s.pkl")]
    else:
        saliency = tmp_path / "s.pkl"
        saliency.write_bytes(pickle.dumps(torch.rand(1, 1, 27, 48) + 0.1))
        opts = ["--saliency", str(saliency), "--frame-size", "320", "192"]
    result = run_tool(["tools/benchmark.py", *configs, "--warmup", "1", "--iters", "1",
                       "--out-dir", str(tmp_path / "bench"), "--paper-results", "", *opts])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    report = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert [r["family"] for r in report["rows"]] == ["uniform", "lzu"]
    for row in report["rows"]:
        assert row["latency_ms"] > 0 and row["backbone_neck_ms"] > 0 and row["head_ms"] > 0
        assert row["inputs"] == ("dataset" if data else "fake")
    assert report["rows"][1]["zoom_ms"] > 0
