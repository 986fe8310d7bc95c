"""The paper's training epoch (rc6's mono-3D dataset) and its result-file metadata."""

import json
import os.path as osp
import pickle

import pytest

import lzu.openmmlab  # noqa: F401  (registers the dataset and metric)
from lzu.apis.runtime import load_config
from lzu.infra.errors import UserInputError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAPER_CONFIGS = [f"{p}fcos3d_{s}" for p in ("", "lzu_") for s in ("0.25", "0.50", "0.75", "1.00")]


def load_pkl(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def annotated_images(root):
    infos = load_pkl(osp.join(root, "nuscenes_infos_train.pkl"))["data_list"]
    total = sum(len(info["images"]) for info in infos)
    kept = sum(1 for info in infos for cam in info["images"] if info["cam_instances"].get(cam))
    return kept, total


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_configs_train_on_the_papers_epoch(name):
    cfg = load_config(osp.join(ROOT, "configs", f"{name}.py"))
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == "PaperEpochNuScenesDataset" and dataset.min_size == 32
    assert cfg.val_evaluator.modality == dict(use_camera=True, use_lidar=False)
    assert cfg.test_evaluator.modality == dict(use_camera=True, use_lidar=False)


def test_epoch_is_the_annotated_images_and_nothing_is_resampled(synthetic_root):
    from mmdet3d.registry import DATASETS

    cfg = load_config(osp.join(ROOT, "configs", "lzu_fcos3d_0.25.py"), data_root=synthetic_root)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    kept, total = annotated_images(synthetic_root)
    assert 0 < kept < total, "the synthetic set must have images without annotations"
    assert len(dataset) == kept
    assert dataset.filter_empty_gt is False
    for idx in range(len(dataset)):
        item = dataset[idx]
        assert item["data_samples"].sample_idx == dataset.get_data_info(idx)["sample_idx"]
        assert len(dataset.get_data_info(idx)["instances"]) > 0
    # test mode keeps every image
    val = DATASETS.build(cfg.val_dataloader.dataset)
    infos = load_pkl(osp.join(synthetic_root, "nuscenes_infos_val.pkl"))["data_list"]
    assert len(val) == sum(len(info["images"]) for info in infos)


def test_min_size_drops_small_images(synthetic_root):
    from mmdet3d.registry import DATASETS

    cfg = load_config(osp.join(ROOT, "configs", "fcos3d_0.25.py"), data_root=synthetic_root)
    dataset_cfg = dict(cfg.train_dataloader.dataset, min_size=901)  # images are 1600x900
    with pytest.raises(UserInputError, match="nothing to train on"):
        DATASETS.build(dataset_cfg)


def test_result_file_says_camera_only(synthetic_root, tmp_path):
    """The config's evaluator writes results_nusc.json with use_camera True, use_lidar False."""
    from mmdet3d.registry import METRICS
    from mono3d_fixtures import gt_as_predictions

    cfg = load_config(osp.join(ROOT, "configs", "lzu_fcos3d_0.25.py"), data_root=synthetic_root)
    metric = METRICS.build(dict(cfg.test_evaluator, jsonfile_prefix=str(tmp_path)))
    metric.dataset_meta = dict(classes=list(cfg.class_names), version="v1.0-mini")
    metric.version = "v1.0-mini"
    data_list = load_pkl(osp.join(synthetic_root, "nuscenes_infos_val.pkl"))["data_list"]
    out = metric.compute_metrics(gt_as_predictions(data_list))
    assert out["pred_instances_3d_NuScenes/NDS"] > 0.9
    (path,) = list(tmp_path.rglob("results_nusc.json"))
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)["meta"]
    assert meta["use_camera"] is True and meta["use_lidar"] is False
