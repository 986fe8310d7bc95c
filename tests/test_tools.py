"""The user-facing tools run end to end: benchmarks, zoom visualisation, `run.sh demo`."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, run_tool
from PIL import Image


def test_run_sh_help_lists_commands_and_experiments():
    result = subprocess.run(["sh", "run.sh", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0
    for word in ("test", "demo", "lzu_fcos3d_0.75", "fcos3d_1.00", "GPUS", "DATA_ROOT", "WORK_DIR"):
        assert word in result.stdout


def test_core_benchmark_reports_every_scale_and_mode(tmp_path):
    out = tmp_path / "core.json"
    result = run_tool(["tools/benchmark_zoom.py", "--repeats", "1", "--json", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["scale"], r["mode"]) for r in rows] == [
        (s, m) for s in (0.25, 0.5, 0.75, 1.0) for m in ("separable", "non-separable")
    ]
    for r in rows:
        assert all(r[k] > 0 for k in ("grid_ms", "invert_ms", "zoom_ms", "unzoom_ms"))
    # the cached grids of a larger scale take more memory
    assert rows[-1]["cached_grids_mb"] > rows[0]["cached_grids_mb"]


def test_core_benchmark_measures_the_adaptive_per_frame_cost(tmp_path):
    out = tmp_path / "adaptive.json"
    result = run_tool(["tools/benchmark_zoom.py", "--adaptive", "--repeats", "1", "--threads", "2",
                       "--json", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(out.read_text())["adaptive"]
    assert row["scale"] == 0.5 and row["boxes"] == 20
    assert row["adaptive_grid_ms"] > 0 and row["resnet50_fpn_ms"] > 0
    assert row["share"] == row["adaptive_grid_ms"] / row["resnet50_fpn_ms"]
    assert "share" in result.stdout


def test_visualize_zoom_writes_a_png(synthetic_root, tmp_path):
    saliency = tmp_path / "s.pkl"
    made = run_tool(["tools/make_saliency.py", "--infos",
                     f"{synthetic_root}/nuscenes_infos_train.pkl", "--out", str(saliency)])
    assert made.returncode == 0, made.stderr[-2000:]
    out = tmp_path / "vis.png"
    result = run_tool(["tools/visualize_zoom.py", "configs/demo/lzu_fcos3d_demo.py", "--data-root",
                       synthetic_root, "--out", str(out), "--features", "--cfg-options",
                       f"model.grid_generator.saliency_file={saliency}"])
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 800 and im.size[1] > 800


def test_visualize_zoom_rejects_a_config_without_zoom(tmp_path):
    result = run_tool(["tools/visualize_zoom.py", "configs/fcos3d_0.50.py", "--image", "x.jpg"])
    assert result.returncode != 0 and "no FixedGrid grid_generator" in result.stderr


@pytest.mark.slow
def test_demo_runs_the_whole_path_and_writes_its_outputs(tmp_path):
    """`sh run.sh demo` in miniature: 2 iterations per model on a tiny set."""
    work = tmp_path / "demo"
    result = run_tool(["tools/demo.py", "--work-dir", str(work), "--iters", "2", "--scenes", "2",
                       "1", "--samples", "2", "--bench-iters", "1"])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    results = json.loads((work / "demo_results.json").read_text())["results"]
    assert set(results) == {"uniform", "LZU"}
    for r in results.values():
        assert set(r) >= {"NDS", "mAP", "mATE", "mASE", "mAOE", "mAVE", "mAAE", "ms_per_image"}
        assert 0.0 <= r["NDS"] <= 1.0 and r["ms_per_image"] > 0
    table = (work / "demo_results.md").read_text()
    assert "| uniform |" in table and "| LZU |" in table
    bench = json.loads((work / "benchmark" / "benchmark.json").read_text())
    assert [r["family"] for r in bench["rows"]] == ["uniform", "lzu"]
    assert "0.25" in bench["lzu_overhead"]
    for png in (work / "benchmark" / "accuracy_latency.png", work / "zoom_visualization.png"):
        with Image.open(png) as im:
            assert im.format == "PNG"


TINY = ["model.backbone.init_cfg=None", "model.backbone.depth=18", "model.backbone.dcn=None",
        "model.backbone.stage_with_dcn=(False,False,False,False)",
        "model.neck.in_channels=[64,128,256,512]", "train_cfg.max_epochs=1",
        "train_dataloader.batch_size=4", "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False", "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
        *[f"{s}_dataloader.dataset.metainfo.version=v1.0-mini" for s in ("train", "val", "test")]]


@pytest.mark.slow
def test_run_sh_experiment_builds_saliency_trains_and_evaluates(synthetic_root, tmp_path):
    """`sh run.sh lzu_fcos3d_0.25` on the tiny set, shrunk to ResNet-18 for one epoch."""
    saliency = tmp_path / "saliency.pkl"
    env = dict(os.environ, LZU_PYTHON=sys.executable, DATA_ROOT=synthetic_root,
               WORK_DIR=str(tmp_path / "work"), SALIENCY=str(saliency), PYTHONWARNINGS="ignore")
    result = subprocess.run(["sh", "run.sh", "lzu_fcos3d_0.25", "--cfg-options", *TINY], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "is missing: building it" in out and saliency.is_file()
    assert "no ckpt/lzu_fcos3d_0.25.pth" in out
    assert "1/3" in out and "2/3" in out and "3/3" in out
    work = tmp_path / "work" / "lzu_fcos3d_0.25"
    summary = json.loads((work / "metrics_epoch_1.json").read_text())["summary"]
    assert set(summary) == {"NDS", "mAP", "mATE", "mASE", "mAOE", "mAVE", "mAAE"}
