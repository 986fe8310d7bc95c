"""``tools/train.py`` and ``tools/test.py``: mmdet3d's command-line conventions on mmengine's Runner.

Both register lzu's modules, work on CPU and CUDA, single-process or under
``torchrun`` (``--launcher pytorch``; gloo when there is no GPU), and check the
data before the Runner spends minutes building datasets.
"""

import argparse
import functools
import os
import os.path as osp
import sys

import torch
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

import lzu.openmmlab  # noqa: F401  (registers lzu's modules, checkpoint allowlist)
from lzu.apis.data_check import check_data
from lzu.apis.fingerprint import FingerprintHook, checkpoint_fingerprint, run_fingerprint
from lzu.apis.runtime import (
    DictAction,
    constructor_accepts,
    init_cpu_distributed,
    load_config,
)
from lzu.infra.atomic_io import atomic_write_json
from lzu.infra.checkpoint import CheckpointError, check_finite_weights
from lzu.infra.cli import fail
from lzu.infra.cpu import deterministic_cpu_kernels
from lzu.infra.errors import UserInputError
from lzu.infra.output_paths import check_output_file, check_output_folder
from lzu.infra.records import read_json_record
from lzu.infra.workdir import (
    acquire_lock,
    check_run_fingerprint,
    file_sha256,
    fingerprint_id,
    fingerprint_mismatch,
    latest_valid_checkpoint,
    locked,
    refuse_symlinks,
    remove_stale_tmp,
)
from lzu.openmmlab.lzu_pipeline import check_lzu_train_pipeline
from lzu.openmmlab.scoring_checks import NonFiniteOutputError, ScoringChecksHook

__all__ = ["train_main", "evaluate_main", "summarize_nuscenes_metrics", "METRIC_KEYS"]

#: headline nuScenes detection metrics, in the order the paper reports them
METRIC_KEYS = ("NDS", "mAP", "mATE", "mASE", "mAOE", "mAVE", "mAAE")


def _common_args(parser):
    parser.add_argument("--work-dir", help="directory for logs, checkpoints and results")
    parser.add_argument("--data-root", help="override the config's data root")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config settings, e.g. model.grid_generator.output_shape='(450,800)'",
    )
    parser.add_argument(
        "--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none", help="job launcher"
    )
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)


def _fail(message):
    """Exit with one message, no traceback (``lzu.infra.cli.fail``, as every tool does)."""
    fail(message)


def _is_rank0():
    return int(os.environ.get("RANK", "0")) == 0


#: resume from (or train over) checkpoints that do not record what they were trained with
RESUME_UNCHECKED = "--resume-unchecked"


def _trained_with(path, unchecked):
    """The fingerprint checkpoint ``path`` was trained with. One that does not say is refused,
    or (``unchecked``) let through with a warning: None."""
    fingerprint, how = checkpoint_fingerprint(path)
    if fingerprint is not None:
        return fingerprint
    if unchecked:
        print(f"warning: {RESUME_UNCHECKED}: '{path}' does not record the settings it was "
              f"trained with ({how}); using it without checking them", file=sys.stderr)
        return None
    raise CheckpointError(
        f"checkpoint '{path}' does not record the settings it was trained with ({how}), so "
        f"this run cannot be checked against it: if it was trained with this config, pass "
        f"{RESUME_UNCHECKED}; otherwise give this run another --work-dir and start from its "
        f"weights only with --cfg-options load_from={path} (without --resume)")


def _claim_work_dir(cfg, unchecked=False):
    """Lock the work dir, clear stale temporaries, refuse a work dir holding a symbolic link,
    a resume from a checkpoint trained with other settings (whichever way it was named), and
    a run configured differently from the one whose checkpoints the work dir holds.

    Returns this run's fingerprint (``lzu.apis.fingerprint.run_fingerprint``)."""
    fingerprint = run_fingerprint(cfg)
    if not _is_rank0():
        return fingerprint
    refuse_symlinks(cfg.work_dir)
    acquire_lock(cfg.work_dir)
    for path in remove_stale_tmp(cfg.work_dir):
        print(f"removed '{path}', left by an interrupted write", file=sys.stderr)
    trained_with = functools.cache(functools.partial(_trained_with, unchecked=unchecked))
    resumed = cfg.get("load_from") if cfg.get("resume") else None
    before = trained_with(resumed) if resumed else None
    diff = fingerprint_mismatch(before, fingerprint) if before is not None else []
    if diff:
        raise CheckpointError(
            f"cannot resume from '{resumed}': it was trained with other settings: "
            f"{'; '.join(diff)}. Resume it with the config it was trained with, or give this "
            f"run another --work-dir and start from its weights only with --cfg-options "
            f"load_from={resumed} (without --resume)")
    check_run_fingerprint(cfg.work_dir, fingerprint, trained_with)
    return fingerprint


def _resolve_resume(cfg, resume):
    """Set ``cfg.resume``/``cfg.load_from`` for ``--resume [PATH]`` (``resume``: "auto", a path
    or None) or the config's own ``resume=True``: without a path, the newest complete
    checkpoint in the work dir (mmengine's ``last_checkpoint`` marker is not trusted)."""
    if resume == "auto" or (resume is None and cfg.get("resume") and not cfg.get("load_from")):
        path, skipped = latest_valid_checkpoint(cfg.work_dir)
        for bad in skipped:
            print(f"warning: '{bad}' is incomplete (killed while saving?); skipping it",
                  file=sys.stderr)
        cfg.resume, cfg.load_from = path is not None, path
    elif resume is not None:
        if not osp.isfile(resume):
            raise UserInputError(f"--resume checkpoint '{resume}' not found")
        cfg.resume, cfg.load_from = True, resume
    elif cfg.get("resume") and not (isinstance(cfg.load_from, str) and osp.isfile(cfg.load_from)):
        raise UserInputError(f"resume=True: load_from checkpoint '{cfg.load_from}' is not a file")


def train_main(argv=None):
    parser = argparse.ArgumentParser(description="Train a model (detector or segmentor) with mmengine's Runner")
    parser.add_argument("config", help="config file")
    parser.add_argument(
        "--resume",
        nargs="?",
        type=str,
        const="auto",
        help="resume from a checkpoint; without a path, from the latest one in the work dir",
    )
    parser.add_argument(
        RESUME_UNCHECKED,
        action="store_true",
        help="resume from (or train over) checkpoints that do not record the settings they "
        "were trained with (saved by other programs) without checking them against this run; "
        "checkpoints that do record them are checked all the same",
    )
    parser.add_argument("--amp", action="store_true", help="automatic mixed precision")
    parser.add_argument("--auto-scale-lr", action="store_true", help="scale lr by batch size")
    _common_args(parser)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options, args.data_root, args.work_dir, args.launcher)
        check_output_folder(cfg.work_dir, "--work-dir" if args.work_dir else "work_dir")
        check_lzu_train_pipeline(cfg)
        check_data(cfg, splits=("train", "val") if cfg.get("val_cfg") else ("train",))
    except (UserInputError, FileNotFoundError) as err:
        _fail(err)
    if args.amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    try:
        _resolve_resume(cfg, args.resume)
        fingerprint = _claim_work_dir(cfg, unchecked=args.resume_unchecked)
    except UserInputError as err:
        _fail(err)
    if cfg.get("resume") and cfg.get("load_from"):
        print(f"resuming from {cfg.load_from}", file=sys.stderr)
    # checkpoints carry torch's RNG state: a resumed run is bit-exact (dropout)
    cfg.custom_hooks = [*(cfg.get("custom_hooks") or []), dict(type="RNGStateHook")]
    deterministic_cpu_kernels()  # the same seed gives the same weights on a busy machine too
    init_cpu_distributed(args.launcher)
    try:
        runner = Runner.from_cfg(cfg)
        runner.register_hook(ScoringChecksHook(check_finite=False))  # validation: counts, warnings
        runner.register_hook(FingerprintHook(fingerprint))  # checkpoints say what trained them
        _explain_resume_errors(runner)
        runner.train()
    except UserInputError as err:
        _fail(err)
    return runner


def _explain_resume_errors(runner):
    """Make the runner's ``resume`` fail with one clear message when the checkpoint's optimizer
    state does not fit this run's optimizer (another parameter grouping: ``paramwise_cfg``,
    frozen stages, another optimizer type), instead of torch's bare "loaded state dict has a
    different number of parameter groups"."""
    resume = runner.resume

    def checked_resume(filename, *args, **kwargs):
        try:
            return resume(filename, *args, **kwargs)
        except (ValueError, KeyError) as err:
            text = str(err)
            if "parameter group" not in text and "state dict" not in text:
                raise
            raise CheckpointError(
                f"cannot resume from '{filename}': its optimizer state does not fit this run's "
                f"optimizer ({text.strip().rstrip('.')}); the optimizer or its parameter "
                "grouping (optim_wrapper, paramwise_cfg, frozen stages) differs from the run "
                "that wrote it. Resume with that run's config, or start a new run from its "
                "weights only: --cfg-options load_from=<checkpoint> without --resume"
            ) from None

    runner.resume = checked_resume


UNSAFE_FLAG = "--unsafe-trust-checkpoint"


def load_weights(runner, checkpoint, config, trust=False):
    """Strictly load ``checkpoint`` into the runner's model, or exit with a clear message.

    Loading goes through torch's weights-only unpickler plus lzu's allowlist.
    ``trust=True`` (the ``--unsafe-trust-checkpoint`` flag) unpickles the file
    with every global allowed, which can run code stored in it: only for a file
    the user trusts that the safe loader refuses. Weights holding NaN or infinite
    values (a diverged training) are refused, naming the tensors.
    """
    try:
        if trust:
            print(f"WARNING: {UNSAFE_FLAG}: unpickling '{checkpoint}' without restrictions; "
                  "a malicious file can run arbitrary code on this machine", file=sys.stderr)
            ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
            model = runner.model.module if hasattr(runner.model, "module") else runner.model
            _load_checkpoint_to_model(model, ckpt, strict=True)
        else:
            ckpt = runner.load_checkpoint(checkpoint, map_location="cpu", strict=True)
        check_finite_weights(ckpt, checkpoint)
    except CheckpointError as err:
        hint = f"\nif you trust this file, {UNSAFE_FLAG} loads it without that protection"
        _fail(f"{err}{hint if 'refused' in str(err) else ''}")
    except RuntimeError as err:
        _fail(f"checkpoint '{checkpoint}' does not match the model of '{config}':\n{err}")


def evaluation_provenance(cfg, checkpoint, cfg_options):
    """What produced a set of metrics: overrides, checkpoint and saliency hashes, the data
    (data root, split, pipeline), the evaluator, and an id over all of them."""
    fingerprint = run_fingerprint(cfg, "test_dataloader")
    fingerprint["checkpoint_sha256"] = file_sha256(checkpoint)
    return {
        "evaluation_id": fingerprint_id(fingerprint),
        "cfg_options": dict(cfg_options or {}),
        "checkpoint_sha256": fingerprint["checkpoint_sha256"],
        "saliency_sha256": fingerprint["saliency_sha256"],
        "model": fingerprint["model"],
        "test_pipeline": fingerprint["pipeline"],
        "test_data": fingerprint["data"],
        "evaluator": fingerprint["evaluator"],
    }


def _evaluation_id_of(path):
    """The evaluation id recorded in the metrics file ``path`` (None for one without it)."""
    return read_json_record(path, "metrics file", "delete it or pass another --out").get(
        "evaluation_id")


def metrics_destination(out, work_dir, checkpoint, provenance):
    """``(metrics path, results tag)``; never overwrites the metrics of another evaluation.

    The default ``<work_dir>/metrics_<checkpoint>.json`` is used unless it holds
    metrics of a differently configured evaluation (model, checkpoint, saliency, data
    root, split, pipeline, evaluator); then ``..._<id>.json``. An explicit ``--out``
    holding another evaluation's metrics is refused.
    """
    eid = provenance["evaluation_id"]
    name = osp.splitext(osp.basename(checkpoint))[0]
    if out:
        if osp.isfile(out) and _evaluation_id_of(out) != eid:
            raise UserInputError(
                f"--out '{out}' holds the metrics of another evaluation (other config, "
                "overrides, checkpoint or saliency); pass another --out or delete it"
            )
        return out, f"{name}_{eid}"
    default = osp.join(work_dir, f"metrics_{name}.json")
    if not osp.isfile(default) or _evaluation_id_of(default) == eid:
        return default, name
    other = osp.join(work_dir, f"metrics_{name}_{eid}.json")
    print(f"'{default}' holds another evaluation of this checkpoint; writing {other}",
          file=sys.stderr)
    return other, f"{name}_{eid}"


#: COCO (mmdet CocoMetric) headline metrics, and their keys
COCO_KEYS = {"AP": "bbox_mAP", "AP50": "bbox_mAP_50", "AP75": "bbox_mAP_75",
             "AP_small": "bbox_mAP_s", "AP_medium": "bbox_mAP_m", "AP_large": "bbox_mAP_l"}


#: semantic segmentation (mmseg IoUMetric) headline metrics
SEG_KEYS = ("mIoU", "mAcc", "aAcc")


def summarize_nuscenes_metrics(metrics):
    """Pick NDS, mAP and the TP errors (nuScenes), AP, AP50, ... (COCO) or mIoU, mAcc, aAcc
    (mmseg) out of a flat dict."""
    summary = {}
    for key in (*METRIC_KEYS, *SEG_KEYS):
        hits = [v for k, v in metrics.items() if k == key or k.endswith(f"/{key}")]
        if hits:
            summary[key] = float(hits[0])
    for key, coco in COCO_KEYS.items():
        hits = [v for k, v in metrics.items() if k.endswith(f"/{coco}")]
        if hits:
            summary[key] = float(hits[0])
    return summary


def format_metrics_table(summary, title=""):
    keys = [k for k in (*METRIC_KEYS, *COCO_KEYS, *SEG_KEYS) if k in summary]
    head = "| " + " | ".join(keys) + " |"
    rule = "|" + "|".join("---" for _ in keys) + "|"
    row = "| " + " | ".join(f"{summary[k]:.4f}" for k in keys) + " |"
    return "\n".join(x for x in (title, head, rule, row) if x)


def evaluate_main(argv=None):
    parser = argparse.ArgumentParser(
        description="Evaluate a checkpoint with the config's metric (NuScenesMetric, CocoMetric, IoUMetric)")
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file (ours or the paper's)")
    parser.add_argument(
        "--out", help="metrics JSON (default: <work-dir>/metrics_<checkpoint name>.json)"
    )
    parser.add_argument(
        UNSAFE_FLAG,
        action="store_true",
        help="load a checkpoint the safe loader refuses by unpickling it without restrictions; "
        "this can run code stored in the file, so use it only for files you trust",
    )
    _common_args(parser)
    args = parser.parse_args(argv)
    try:
        if args.out is not None:  # before any work: the metrics are written at the end
            check_output_file(args.out, "--out")
        cfg = load_config(args.config, args.cfg_options, args.data_root, args.work_dir, args.launcher)
        check_output_folder(cfg.work_dir, "--work-dir" if args.work_dir else "work_dir")
        check_data(cfg, splits=("val",))
    except (UserInputError, FileNotFoundError) as err:
        _fail(err)
    if not osp.isfile(args.checkpoint):
        _fail(f"checkpoint '{args.checkpoint}' not found")
    try:
        refuse_symlinks(cfg.work_dir)
    except UserInputError as err:
        _fail(err)
    provenance = evaluation_provenance(cfg, args.checkpoint, args.cfg_options)
    if args.out:
        lock = osp.join(osp.dirname(osp.abspath(args.out)), f".{osp.basename(args.out)}.lock")
    else:
        name = osp.splitext(osp.basename(args.checkpoint))[0]
        lock = osp.join(cfg.work_dir, f".metrics_{name}.lock")
    if not _is_rank0():
        return _evaluate(args, cfg, provenance)
    # two evaluations of one checkpoint in one work dir take turns: the second chooses its
    # metrics file after the first has written its own
    with locked(lock, f"another evaluation of '{args.checkpoint}' in '{cfg.work_dir}'"):
        return _evaluate(args, cfg, provenance)


def _evaluate(args, cfg, provenance):
    try:
        out, tag = metrics_destination(args.out, cfg.work_dir, args.checkpoint, provenance)
    except UserInputError as err:
        _fail(err)
    for key in ("test_evaluator", "val_evaluator"):
        metric = cfg.get(key)
        if metric is None:
            continue
        # where the metric writes its result files: NuScenesMetric's jsonfile_prefix,
        # CocoMetric's outfile_prefix
        for arg in ("jsonfile_prefix", "outfile_prefix"):
            if arg not in metric and constructor_accepts(metric.get("type"), arg):
                metric[arg] = osp.join(cfg.work_dir, f"results_{tag}")
                break
    cfg.load_from = None
    deterministic_cpu_kernels()
    init_cpu_distributed(args.launcher)
    try:
        runner = Runner.from_cfg(cfg)
    except UserInputError as err:
        _fail(err)
    load_weights(runner, args.checkpoint, args.config, trust=args.unsafe_trust_checkpoint)
    checks = ScoringChecksHook(check_finite=True)
    runner.register_hook(checks)
    try:
        metrics = runner.test()
    except NonFiniteOutputError as err:
        _fail(f"checkpoint '{args.checkpoint}' cannot be scored: {err}")
    except UserInputError as err:
        _fail(err)
    summary = summarize_nuscenes_metrics(metrics)
    if runner.rank == 0:
        record = {"config": args.config, "checkpoint": args.checkpoint, **provenance,
                  "summary": summary, "metrics": {k: float(v) for k, v in metrics.items()}}
        if checks.predictions is not None:
            record["predictions"] = checks.predictions
        if checks.adaptive is not None:
            record["adaptive_saliency"] = checks.adaptive
        record["warnings"] = checks.warnings
        atomic_write_json(out, record)
        print(format_metrics_table(summary, f"{osp.basename(args.config)} @ {tag}"))
        print(f"metrics written to {out}")
    return summary
