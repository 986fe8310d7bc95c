"""What tools/test.py checks about the model it scores: finite weights, head outputs and
predictions (else one line naming the checkpoint), a model predicting nothing (a loud
warning, the metric's zeros recorded), an adaptive model's fallback counts (logged and
recorded), and its --out path (checked before any work).

The 2-D model is the adaptive LZU demo detector (ResNet-18 FCOS, random weights) on three
frames of one sequence of the synthetic Argoverse-HD set.
"""

import json
import pickle

import pytest
import torch
from conftest import run_tool
from det2d_fixtures import asymmetric_saliency
from helpers import assert_clean_error

ADAPTIVE = "configs/det2d/demo/lzu_adaptive_fcos_demo.py"
QUIET_TEST = ["test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False"]


@pytest.fixture(scope="module")
def det2d(synthetic_root, tmp_path_factory):
    """``(data root, prior file, state dict)`` of the adaptive 2-D demo model."""
    import lzu.openmmlab  # noqa: F401
    from lzu.apis.runtime import build_model, load_config
    from lzu.data.argoverse_hd import write_argoverse_hd_from_nuscenes

    base = tmp_path_factory.mktemp("scoring")
    root = str(base / "argo")
    write_argoverse_hd_from_nuscenes(synthetic_root, root, cameras=("CAM_FRONT",))
    prior = str(base / "prior.pkl")
    with open(prior, "wb") as f:
        pickle.dump(asymmetric_saliency(), f)
    cfg = load_config(ADAPTIVE, {"model.adaptive_saliency.prior_file": prior}, data_root=root)
    torch.manual_seed(0)
    return root, prior, build_model(cfg).state_dict()


def _checkpoint(det2d, tmp_path, name="model", **changes):
    """A checkpoint of the demo model with ``changes`` (``key=function(tensor)``) applied."""
    state = {k: v.clone() for k, v in det2d[2].items()}
    for key, change in changes.items():
        change(state[key.replace("__", ".")])
    path = tmp_path / f"{name}.pth"
    torch.save({"state_dict": state}, path)
    return path


def _evaluate(det2d, checkpoint, tmp_path, *options, out=None):
    root, prior = det2d[:2]
    out = out or tmp_path / "metrics.json"
    result = run_tool(["tools/test.py", ADAPTIVE, str(checkpoint), "--data-root", root,
                       "--work-dir", str(tmp_path / "work"), "--out", str(out), "--cfg-options",
                       f"model.adaptive_saliency.prior_file={prior}", *QUIET_TEST, *options])
    return result, out


def _log_of(tmp_path):
    (log,) = (tmp_path / "work").rglob("*.log")
    return log.read_text()


def test_a_checkpoint_with_nan_weights_is_refused_naming_it_and_the_tensor(det2d, tmp_path):
    ckpt = _checkpoint(det2d, tmp_path, "diverged",
                       bbox_head__conv_cls__bias=lambda t: t.fill_(float("nan")))
    result, out = _evaluate(det2d, ckpt, tmp_path)
    assert_clean_error(result, f"checkpoint '{ckpt}' holds non-finite weights",
                       "bbox_head.conv_cls.bias (8 NaN of 8 values)")
    assert not out.exists()


def test_nan_classification_outputs_are_refused_naming_the_head_and_the_image(det2d, tmp_path):
    """Finite weights whose scores overflow to NaN: mmdet's score threshold would drop every
    box and the adaptive model would score an empty table, exit 0."""
    def opposite_huge(weight):
        half = weight.shape[1] // 2
        weight[:, :half], weight[:, half:] = 3e38, -3e38

    ckpt = _checkpoint(det2d, tmp_path, "overflow", bbox_head__conv_cls__weight=opposite_huge)
    result, out = _evaluate(det2d, ckpt, tmp_path)
    assert_clean_error(result, f"checkpoint '{ckpt}' cannot be scored", "bbox_head output[0]",
                       "NaN of", "on image '", "ring_front_center")
    assert not out.exists()


def test_infinite_box_outputs_are_refused(det2d, tmp_path):
    ckpt = _checkpoint(det2d, tmp_path, "infinite",
                       bbox_head__conv_reg__bias=lambda t: t.fill_(1e4))
    result, out = _evaluate(det2d, ckpt, tmp_path)
    assert_clean_error(result, f"checkpoint '{ckpt}' cannot be scored", "bbox_head output[1]",
                       "infinite of")
    assert not out.exists()


def test_a_model_predicting_nothing_is_a_warning_with_the_metric_zeros(det2d, tmp_path):
    ckpt = _checkpoint(det2d, tmp_path, "silent",
                       bbox_head__conv_cls__bias=lambda t: t.fill_(-1e4))
    result, out = _evaluate(det2d, ckpt, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WARNING: the model predicted nothing on any of the test images" in result.stderr
    record = json.loads(out.read_text())
    assert record["predictions"] == 0
    for key in ("bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m",
                "bbox_mAP_l"):
        assert record["metrics"][f"coco/{key}"] == 0.0
    assert record["summary"]["AP"] == 0.0 and record["summary"]["AP50"] == 0.0
    assert any("predicted nothing" in w for w in record["warnings"])
    log = _log_of(tmp_path)
    assert "WARNING - the model predicted nothing" in log
    # nothing detected, so every frame zoomed with the prior: said loudly
    assert record["adaptive_saliency"] == {"frames": 3, "zoomed_on_detections": 0,
                                           "fell_back": 3, "fallback": "prior"}
    assert "WARNING: every one of the 3 test frames fell back to the prior" in result.stderr
    assert "WARNING - every one of the 3 test frames fell back to the prior" in log


def test_the_fallback_counts_are_logged_and_recorded(det2d, tmp_path):
    ckpt = _checkpoint(det2d, tmp_path)
    result, out = _evaluate(det2d, ckpt, tmp_path, "model.test_cfg.score_thr=0.0",
                            "model.adaptive_saliency.score_thr=0.0")
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(out.read_text())
    # frame 0 of the sequence has no previous frame; frames 1 and 2 zoom on its detections
    assert record["adaptive_saliency"] == {"frames": 3, "zoomed_on_detections": 2,
                                           "fell_back": 1, "fallback": "prior"}
    assert record["predictions"] > 0 and record["warnings"] == []
    line = ("adaptive saliency (LZUFCOS, test): 2 of 3 frames zoomed on the previous frame's "
            "detections, 1 fell back to the prior")
    assert line in _log_of(tmp_path)
    assert "fell back" not in result.stderr


def test_out_naming_a_folder_is_refused_before_any_work(det2d, tmp_path):
    ckpt = _checkpoint(det2d, tmp_path)
    folder = tmp_path / "results"
    folder.mkdir()
    result, _ = _evaluate(det2d, ckpt, tmp_path, out=folder)
    assert_clean_error(result, f"--out '{folder}' is a folder; give a file name")
    out = result.stdout + result.stderr
    assert "Load checkpoint" not in out and "Iter(test)" not in out
    assert not (tmp_path / "work").exists()  # no runner was built
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result, _ = _evaluate(det2d, ckpt, tmp_path, out=blocker / "metrics.json")
    assert_clean_error(result, f"'{blocker}' is a file, not a folder")
    assert not (tmp_path / "work").exists()


def test_output_path_checks(tmp_path):
    from lzu.infra.output_paths import OutputPathError, check_output_file, check_output_folder

    check_output_file(tmp_path / "new" / "deeper" / "m.json")  # folders made when written
    check_output_folder(tmp_path / "new_folder")
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_file(f"{tmp_path}/sub/", "--out")
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputPathError, match="--out-dir '.*f' is a file, not a folder"):
        check_output_folder(tmp_path / "f")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "f" / "x")


def test_coco_zeros_have_the_keys_the_metric_reports():
    from mmdet.evaluation.metrics import CocoMetric

    from lzu.openmmlab.scoring_checks import empty_result_metrics

    metric = CocoMetric(metric=["bbox", "proposal"], classwise=True, ann_file=None,
                        metric_items=None)
    metric.dataset_meta = {"classes": ("car", "bus")}
    zeros = empty_result_metrics(metric)
    assert zeros["coco/bbox_mAP"] == 0.0 and zeros["coco/AR@1000"] == 0.0
    assert zeros["coco/car_precision"] == 0.0 and len(zeros) == 6 + 6 + 2


@pytest.mark.parametrize("case", ["nothing", "overflow"])
def test_mono3d_checkpoints_predicting_nothing_or_overflowing(case, synthetic_root, tmp_path):
    """FCOS3D (the 3-D demo baseline): an empty result is scored by the nuScenes metric itself
    (NDS 0) and said loudly; NaN / infinite head outputs are refused naming the checkpoint."""
    from helpers import BASELINE, QUIET

    import lzu.openmmlab  # noqa: F401
    from lzu.apis.runtime import build_model, load_config

    state = build_model(load_config(BASELINE, data_root=synthetic_root)).state_dict()
    if case == "nothing":
        state["bbox_head.conv_cls.bias"].fill_(-1e4)
    else:
        weight = state["bbox_head.conv_cls.weight"]
        weight[:, :weight.shape[1] // 2], weight[:, weight.shape[1] // 2:] = 3e38, -3e38
    ckpt, out = tmp_path / f"{case}.pth", tmp_path / "metrics.json"
    torch.save({"state_dict": state}, ckpt)
    result = run_tool(["tools/test.py", BASELINE, str(ckpt), "--data-root", synthetic_root,
                       "--work-dir", str(tmp_path / "w"), "--out", str(out), "--cfg-options",
                       *QUIET])
    if case == "overflow":
        assert_clean_error(result, f"checkpoint '{ckpt}' cannot be scored", "bbox_head output",
                           "CAM_")
        return
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WARNING: the model predicted nothing on any of the test images" in result.stderr
    record = json.loads(out.read_text())
    assert record["predictions"] == 0 and record["summary"]["NDS"] == 0.0
    assert record["summary"]["mAP"] == 0.0 and any("predicted nothing" in w
                                                   for w in record["warnings"])
