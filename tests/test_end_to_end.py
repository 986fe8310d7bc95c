"""The real data path on the synthetic set: converter, NuScenesMetric on CPU, train/test tools."""

import json
import os.path as osp

import pytest
import torch
from conftest import run_tool
from mono3d_fixtures import CAMERAS, gt_as_predictions, load_pkl, nds_of

import lzu.openmmlab  # noqa: F401  (registers modules and the checkpoint allowlist)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_converter_gives_cam_instances_for_every_camera_that_sees_a_box(synthetic_root):
    from nuscenes import NuScenes
    from nuscenes.utils.geometry_utils import BoxVisibility

    nusc = NuScenes(version="v1.0-mini", dataroot=synthetic_root, verbose=False)
    infos = load_pkl(osp.join(synthetic_root, "nuscenes_infos_val.pkl"))
    assert infos["metainfo"]["version"] == "v1.0-mini"
    assert len(infos["data_list"]) == 3
    checked = 0
    for info in infos["data_list"]:
        sample = nusc.get("sample", info["token"])
        for cam in CAMERAS:
            _, boxes, _ = nusc.get_sample_data(sample["data"][cam], box_vis_level=BoxVisibility.ANY)
            seen = [b for b in boxes if b.center[2] > 1.0]
            if seen:
                insts = info["cam_instances"][cam]
                assert insts, f"{cam} sees {len(seen)} boxes but has no cam_instances"
                for inst in insts:
                    assert len(inst["bbox_3d"]) == 7 and len(inst["velocity"]) == 2
                    assert 0 <= inst["bbox_label_3d"] < 10
                    x1, y1, x2, y2 = inst["bbox"]
                    assert 0 <= x1 < x2 <= 1600 and 0 <= y1 < y2 <= 900
                checked += 1
    assert checked >= 3


def test_nuscenes_metric_runs_on_cpu_and_scores_ground_truth(synthetic_root, tmp_path):
    """Ground truth through mmdet3d's camera path (6-camera merge + NMS) and DetectionEval.

    Not necessarily exactly 1: the 6-camera NMS may drop a box seen by two
    cameras. Noise of 0.5 m must cost clearly more.
    """
    data_list = load_pkl(osp.join(synthetic_root, "nuscenes_infos_val.pkl"))["data_list"]
    nds, out = nds_of(gt_as_predictions(data_list), synthetic_root, tmp_path / "gt")
    assert nds > 0.9, out
    assert out["pred_instances_3d_NuScenes/mAP"] > 0.9
    noisy, _ = nds_of(gt_as_predictions(data_list, noise=0.5), synthetic_root, tmp_path / "noisy")
    assert noisy < nds - 0.03


def test_empty_predictions_score_zero_with_a_message(synthetic_root, tmp_path):
    data_list = load_pkl(osp.join(synthetic_root, "nuscenes_infos_val.pkl"))["data_list"]
    results = gt_as_predictions(data_list)
    for r in results:
        keep = torch.zeros(len(r["pred_instances_3d"].scores_3d), dtype=torch.bool)
        r["pred_instances_3d"] = r["pred_instances_3d"][keep]
    nds, out = nds_of(results, synthetic_root, tmp_path / "empty")
    assert nds == 0.0 and out["pred_instances_3d_NuScenes/mAP"] == 0.0
    assert out["pred_instances_3d_NuScenes/mATE"] == 1.0


@pytest.mark.slow
def test_train_resume_and_test_tools_on_the_synthetic_set(synthetic_root, tmp_path):
    """tools/train.py (LZU, 2 iterations), --resume to 4, tools/test.py writes metrics."""
    saliency = tmp_path / "saliency.pkl"
    made = run_tool(["tools/make_saliency.py", "--infos",
                     osp.join(synthetic_root, "nuscenes_infos_train.pkl"), "--out", str(saliency)])
    assert made.returncode == 0, made.stderr[-2000:]
    work = tmp_path / "work"
    opts = [f"model.grid_generator.saliency_file={saliency}", "train_dataloader.batch_size=2",
            "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False",
            "val_dataloader.num_workers=0", "val_dataloader.persistent_workers=False",
            "test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False",
            "default_hooks.checkpoint.interval=2", "default_hooks.logger.interval=1"]
    config = "configs/demo/lzu_fcos3d_demo.py"
    first = run_tool(["tools/train.py", config, "--work-dir", str(work), "--data-root",
                      synthetic_root, "--cfg-options", "train_cfg.max_iters=2",
                      "train_cfg.val_interval=100", *opts])
    assert first.returncode == 0, first.stderr[-3000:]
    assert (work / "iter_2.pth").is_file()
    second = run_tool(["tools/train.py", config, "--work-dir", str(work), "--data-root",
                       synthetic_root, "--resume", "--cfg-options", "train_cfg.max_iters=4",
                       "train_cfg.val_interval=100", *opts])
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert "Load checkpoint from" in log and "resumed" in log.lower()
    assert "Iter(train) [3/4]" in log and "Iter(train) [1/4]" not in log
    ckpt = torch.load(work / "iter_4.pth", map_location="cpu")  # weights_only + our allowlist
    assert ckpt["meta"]["iter"] == 4
    out = tmp_path / "metrics.json"
    tested = run_tool(["tools/test.py", config, str(work / "iter_4.pth"), "--work-dir", str(work),
                       "--data-root", synthetic_root, "--out", str(out), "--cfg-options", *opts])
    assert tested.returncode == 0, tested.stderr[-3000:]
    summary = json.loads(out.read_text())["summary"]
    assert set(summary) == {"NDS", "mAP", "mATE", "mASE", "mAOE", "mAVE", "mAAE"}
    assert 0.0 <= summary["NDS"] <= 1.0
