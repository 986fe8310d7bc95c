"""Evaluation records: each evaluation has its own id and provenance, never overwrites another's
metrics, and a truncated evaluation output is reported."""

import json
import shutil

import pytest
import torch
from helpers import LZU, LZU_PATH

from lzu.apis.runtime import load_config
from lzu.infra.errors import UserInputError

LZU_DEMO = LZU


def test_evaluations_record_provenance_and_never_overwrite_each_other(tmp_path):
    from lzu.apis.entrypoints import evaluation_provenance, metrics_destination

    ckpt = tmp_path / "epoch_1.pth"
    torch.save({"state_dict": {}}, ckpt)
    a = evaluation_provenance(load_config(LZU_PATH), str(ckpt), None)
    b = evaluation_provenance(load_config(LZU_PATH, {"model.unzoom_border": "paper"}), str(ckpt),
                              {"model.unzoom_border": "paper"})
    assert a["evaluation_id"] != b["evaluation_id"] and len(a["checkpoint_sha256"]) == 64
    assert b["cfg_options"] == {"model.unzoom_border": "paper"}
    first, _ = metrics_destination(None, str(tmp_path), str(ckpt), a)
    assert first == str(tmp_path / "metrics_epoch_1.json")
    with open(first, "w") as f:
        json.dump({"evaluation_id": a["evaluation_id"]}, f)
    assert metrics_destination(None, str(tmp_path), str(ckpt), a)[0] == first  # same: overwrite
    second, tag = metrics_destination(None, str(tmp_path), str(ckpt), b)
    assert second != first and b["evaluation_id"] in second and b["evaluation_id"] in tag
    with pytest.raises(UserInputError, match="holds the metrics of another evaluation"):
        metrics_destination(first, str(tmp_path), str(ckpt), b)


def test_an_evaluation_id_covers_the_data_root_and_the_split(tmp_path, synthetic_root):
    from lzu.apis.entrypoints import evaluation_provenance

    ckpt = tmp_path / "iter_1.pth"
    ckpt.write_bytes(b"weights")
    other_root = tmp_path / "other"
    shutil.copytree(synthetic_root, other_root)
    ids = {
        evaluation_provenance(load_config(LZU_DEMO, data_root=synthetic_root), str(ckpt),
                              None)["evaluation_id"],
        evaluation_provenance(load_config(LZU_DEMO, data_root=str(other_root)), str(ckpt),
                              None)["evaluation_id"],
        evaluation_provenance(load_config(
            LZU_DEMO, {"test_dataloader.dataset.ann_file": "nuscenes_infos_train.pkl"},
            data_root=synthetic_root), str(ckpt), None)["evaluation_id"],
        evaluation_provenance(load_config(  # the evaluator's ground truth
            LZU_DEMO, {"test_evaluator.ann_file": f"{synthetic_root}/nuscenes_infos_train.pkl"},
            data_root=synthetic_root), str(ckpt), None)["evaluation_id"],
    }
    assert len(ids) == 4


def test_truncated_devkit_output_is_reported(tmp_path):
    from lzu.openmmlab.metric import EvaluationOutputError, check_complete_json

    path = tmp_path / "metrics_details.json"
    path.write_text('{"car": {"label_aps": {"0.5": 0.1')
    with pytest.raises(EvaluationOutputError, match="metrics_details.json' is truncated"):
        check_complete_json(str(path))
