"""Glue between the command-line tools and mmengine's Runner.

Everything the train/test tools share lives here: loading a config with
``--cfg-options``, pointing it at a data root, choosing the distributed
backend on machines without GPUs, and failing early with a clear message when
the data is not prepared.
"""

import os.path as osp

import torch
from mmengine.config import Config, DictAction

from .errors import UserInputError
from .infos import load_infos

__all__ = [
    "DataError",
    "DictAction",
    "load_config",
    "set_data_root",
    "check_data",
    "missing_images",
    "init_cpu_distributed",
    "build_model",
]

PREPARE_HINT = (
    "prepare nuScenes with `python tools/create_data.py --root-path {root}` "
    "(see README, 'Running the paper's experiments')"
)


class DataError(UserInputError, FileNotFoundError):
    """The data root or an info file is missing or unusable."""


def _datasets(cfg):
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(key)
        if loader is None:
            continue
        dataset = loader["dataset"]
        # wrappers (RepeatDataset, CBGSDataset, ...) keep the real one inside
        while "dataset" in dataset:
            dataset = dataset["dataset"]
        yield key, dataset


def set_data_root(cfg, data_root):
    """Point every dataloader and evaluator of ``cfg`` at ``data_root``."""
    root = data_root.rstrip("/") + "/"
    cfg.data_root = root
    for _, dataset in _datasets(cfg):
        dataset["data_root"] = root
    for key in ("val_evaluator", "test_evaluator"):
        evaluator = cfg.get(key)
        if evaluator is None:
            continue
        for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
            metric["data_root"] = root
            if "ann_file" in metric:
                metric["ann_file"] = root + osp.basename(metric["ann_file"])
    return cfg


def load_config(path, cfg_options=None, data_root=None, work_dir=None, launcher="none"):
    """Load ``path``, apply ``--cfg-options``, data root, work dir and launcher."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"config file '{path}' not found")
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if data_root:
        set_data_root(cfg, data_root)
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join("work_dirs", osp.splitext(osp.basename(path))[0])
    cfg.launcher = launcher
    if launcher != "none" and not torch.cuda.is_available():
        # Distributed on CPU: NCCL needs GPUs, gloo is torch.distributed's CPU
        # backend; and DDP must get device_ids=None for a CPU module (mmengine
        # passes [LOCAL_RANK] unless the wrapper config says otherwise).
        cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"
        wrapper = cfg.get("model_wrapper_cfg") or {}
        wrapper.setdefault("type", "MMDistributedDataParallel")
        wrapper.setdefault("broadcast_buffers", False)
        wrapper.setdefault("find_unused_parameters", cfg.get("find_unused_parameters", False))
        wrapper["device_ids"] = None
        cfg.model_wrapper_cfg = wrapper
    return cfg


def missing_images(dataset_cfg, data_list, limit=5):
    """Image files the infos reference that are not on disk: ``(count, first few, total)``."""
    root = dataset_cfg.get("data_root", "")
    prefixes = dataset_cfg.get("data_prefix", {})
    missing, total = [], 0
    for info in data_list:
        for cam, img in info.get("images", {}).items():
            if "img_path" not in img or cam not in prefixes:
                continue
            total += 1
            path = osp.join(root, prefixes[cam], img["img_path"])
            if not osp.isfile(path):
                missing.append(path)
    return len(missing), missing[:limit], total


def build_model(cfg, checkpoint=None):
    """Build ``cfg.model`` without downloading pretrained weights; load ``checkpoint`` strictly.

    ``cfg`` is not modified (mmdet's ResNet pops keys from its config while building).
    """
    import copy

    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import lzu.mmdet3d_plugin  # noqa: F401  (registers lzu's modules, checkpoint allowlist)

    init_default_scope(cfg.get("default_scope", "mmdet3d"))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    model = MODELS.build(model_cfg)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location="cpu", strict=True)
    return model


def init_cpu_distributed(launcher):
    """Start torch.distributed with gloo when launched by torchrun on a machine without GPUs.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally; it
    skips its own initialisation when a process group already exists.
    """
    import torch.distributed as dist

    if launcher == "pytorch" and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend="gloo")


def check_data(cfg, splits=("train", "val")):
    """Fail early, naming the path, if the data root, an info file or images are missing.

    Info files must be mmdet3d v2 files (``lzu.infos.load_infos`` explains v1
    and corrupt files); every image they reference must exist.
    """
    checked = set()
    for key, dataset in _datasets(cfg):
        split = "train" if key.startswith("train") else "val"
        if split not in splits:
            continue
        root = dataset.get("data_root", "")
        if not osp.isdir(root):
            raise DataError(f"data root '{root}' does not exist; " + PREPARE_HINT.format(root=root))
        ann = osp.join(root, dataset["ann_file"])
        if not osp.isfile(ann):
            raise DataError(
                f"info file '{ann}' ({key}) not found; " + PREPARE_HINT.format(root=root)
            )
        if ann in checked:
            continue
        checked.add(ann)
        n_missing, examples, total = missing_images(dataset, load_infos(ann))
        if n_missing:
            raise DataError(
                f"{n_missing} of {total} images referenced by '{ann}' are missing, e.g.\n  "
                + "\n  ".join(examples)
                + f"\ncheck data_root '{root}' and data_prefix, or re-download the images"
            )
    return cfg
