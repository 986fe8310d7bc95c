"""What defines a run, read out of its config: the fingerprint a work dir records.

``run_fingerprint(cfg)`` takes the config facts that define an experiment and returns
them as plain JSON values; ``lzu.infra.workdir.check_run_fingerprint`` records them in
the work dir and refuses a run whose fingerprint differs from the one that wrote its
checkpoints. This module is the one place that knows where those facts live in a config
(the model, its saliency file, the data loader's dataset and pipeline, the optimizer, the
LR schedule, the seed, the evaluator); the work dir knows none of it.
"""

import os.path as osp

from lzu.infra.workdir import file_sha256

__all__ = ["plain", "run_fingerprint", "saliency_file", "saliency_sha256"]


def plain(obj):
    """Config objects -> plain JSON-able values (tuples become lists)."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return repr(obj)


def saliency_file(model_cfg):
    """The model's saliency file: the fixed grid's ``saliency_file``, or an adaptive model's
    prior (``adaptive_saliency.prior_file``); None when it names none."""
    grid = (model_cfg or {}).get("grid_generator") or {}
    return grid.get("saliency_file") or ((model_cfg or {}).get("adaptive_saliency") or {}).get(
        "prior_file")


def saliency_sha256(model_cfg):
    """sha256 of the model's saliency file, or None when it has none (or it is not a file)."""
    path = saliency_file(model_cfg)
    if isinstance(path, str) and osp.isfile(path):
        return file_sha256(path)
    return None


def run_fingerprint(cfg, loader_key="train_dataloader"):
    """What defines a run on ``loader_key``'s data.

    Always: the model config, the saliency's contents, the data pipeline and the dataset
    (data root, annotation file or folders: the split, metainfo, wrappers). For training
    also the optimizer, the LR schedule and the seed; for an evaluation its evaluator.
    """
    loader = cfg.get(loader_key) or {}
    dataset = plain(loader.get("dataset", {}) if hasattr(loader, "get") else {})
    inner = dataset
    while isinstance(inner, dict) and isinstance(inner.get("dataset"), dict):
        inner = inner["dataset"]  # RepeatDataset, CBGSDataset, ...
    pipeline = inner.pop("pipeline", None) if isinstance(inner, dict) else None
    fingerprint = {
        "model": plain(cfg.model),
        "saliency_sha256": saliency_sha256(cfg.model),
        "pipeline": pipeline,
        "data": dataset,
    }
    if loader_key.startswith("train"):
        fingerprint["optim_wrapper"] = plain(cfg.get("optim_wrapper"))
        fingerprint["param_scheduler"] = plain(cfg.get("param_scheduler"))
        fingerprint["randomness"] = plain(cfg.get("randomness"))
    else:
        fingerprint["evaluator"] = plain(cfg.get(loader_key.replace("dataloader", "evaluator")))
    return fingerprint
