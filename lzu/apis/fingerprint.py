"""What defines a run, read out of its config: the fingerprint a work dir and its checkpoints record.

``run_fingerprint(cfg)`` takes the config facts that define an experiment and returns
them as plain JSON values; ``lzu.infra.workdir.check_run_fingerprint`` records them in
the work dir and refuses a run whose fingerprint differs from the one that wrote its
checkpoints. This module is the one place that knows where those facts live in a config
(the model, its saliency file, the data loader's dataset and pipeline, the optimizer, the
LR schedule, the seed, the evaluator); the work dir knows none of it.

Checkpoints carry it too: ``FingerprintHook`` stamps it into every checkpoint's meta
(``meta['lzu_fingerprint']``), and ``checkpoint_fingerprint(path)`` reads it back, so a
resume is checked against what the checkpoint itself was trained with, wherever it lies.
For a checkpoint saved without the stamp it is read out of the config text mmengine
stores in the meta, by a parser that accepts literals and ``dict(...)`` only (mmengine's
``Config.fromstring`` would run the text as code); the saliency's contents are then
unknown and left out.
"""

import ast
import os.path as osp

from mmengine.config import Config
from mmengine.hooks import Hook

from lzu.infra.checkpoint import checkpoint_meta
from lzu.infra.workdir import file_sha256

__all__ = ["FINGERPRINT_KEY", "FingerprintHook", "checkpoint_fingerprint", "plain",
           "run_fingerprint", "saliency_file", "saliency_sha256"]

#: where in a checkpoint's ``meta`` the fingerprint of the run that saved it lies
FINGERPRINT_KEY = "lzu_fingerprint"


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


def run_fingerprint(cfg, loader_key="train_dataloader", saliency=True):
    """What defines a run on ``loader_key``'s data.

    Always: the model config, the saliency's contents (unless ``saliency`` is False), the
    data pipeline and the dataset (data root, annotation file or folders: the split,
    metainfo, wrappers). For training also the optimizer, the LR schedule and the seed; for
    an evaluation its evaluator.
    """
    loader = cfg.get(loader_key) or {}
    dataset = plain(loader.get("dataset", {}) if hasattr(loader, "get") else {})
    inner = dataset
    while isinstance(inner, dict) and isinstance(inner.get("dataset"), dict):
        inner = inner["dataset"]  # RepeatDataset, CBGSDataset, ...
    pipeline = inner.pop("pipeline", None) if isinstance(inner, dict) else None
    fingerprint = {"model": plain(cfg.model)}
    if saliency:
        fingerprint["saliency_sha256"] = saliency_sha256(cfg.model)
    fingerprint.update(pipeline=pipeline, data=dataset)
    if loader_key.startswith("train"):
        fingerprint["optim_wrapper"] = plain(cfg.get("optim_wrapper"))
        fingerprint["param_scheduler"] = plain(cfg.get("param_scheduler"))
        fingerprint["randomness"] = plain(cfg.get("randomness"))
    else:
        fingerprint["evaluator"] = plain(cfg.get(loader_key.replace("dataloader", "evaluator")))
    return fingerprint


class FingerprintHook(Hook):
    """Stamp every checkpoint a run saves with the run's fingerprint (``FINGERPRINT_KEY``)."""

    priority = "VERY_LOW"

    def __init__(self, fingerprint):
        self.fingerprint = fingerprint

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint.setdefault("meta", {})[FINGERPRINT_KEY] = self.fingerprint


def _literal(node):
    """The value of a config-dump expression made of literals and ``dict(k=v, ...)`` only."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"
            and not node.args and all(kw.arg is not None for kw in node.keywords)):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int | float)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    raise ValueError(f"not a literal: {ast.dump(node)[:60]}")


def _config_of_text(text):
    """A ``Config`` of a config dump's top-level ``name = <literal>`` lines, or None when the
    text holds anything else."""
    try:
        tree = ast.parse(text)
        values = {}
        for stmt in tree.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                return None
            values[stmt.targets[0].id] = _literal(stmt.value)
        return Config(values) if "model" in values else None
    except (SyntaxError, ValueError, TypeError, KeyError, RecursionError, MemoryError):
        return None


def checkpoint_fingerprint(path):
    """``(fingerprint, how)``: what checkpoint ``path`` was trained with, and where that was read.

    The fingerprint its run stamped in its meta; else the one of the config text mmengine
    stored there (without the saliency's contents); else ``(None, why)``. Unreadable files
    raise ``CheckpointError``.
    """
    meta = checkpoint_meta(path)
    stamped = meta.get(FINGERPRINT_KEY)
    if isinstance(stamped, dict) and stamped:
        return stamped, "recorded in it"
    if stamped is not None:
        return None, f"its '{FINGERPRINT_KEY}' is a {type(stamped).__name__}, not a fingerprint"
    text = meta.get("cfg", meta.get("config"))
    cfg = _config_of_text(text) if isinstance(text, str) else None
    if cfg is None:
        return None, ("its meta holds neither a run fingerprint nor a config" if text is None
                      else "its meta holds no run fingerprint, and its config cannot be read")
    return run_fingerprint(cfg, saliency=False), "read from the config in its meta"
