"""``tools/train.py`` and ``tools/test.py``: mmdet3d's command-line conventions on mmengine's Runner.

Both register lzu's modules, work on CPU and CUDA, single-process or under
``torchrun`` (``--launcher pytorch``; gloo when there is no GPU), and check the
data before the Runner spends minutes building datasets.
"""

import argparse
import os.path as osp
import sys

import torch
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

import lzu.mmdet3d_plugin  # noqa: F401  (registers lzu's modules, checkpoint allowlist)

from .atomic_io import atomic_write_json
from .checkpoint import CheckpointError
from .errors import UserInputError
from .runtime import DictAction, check_data, init_cpu_distributed, load_config

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
    sys.exit(f"error: {message}")


def train_main(argv=None):
    parser = argparse.ArgumentParser(description="Train a detector with mmengine's Runner")
    parser.add_argument("config", help="config file")
    parser.add_argument(
        "--resume",
        nargs="?",
        type=str,
        const="auto",
        help="resume from a checkpoint; without a path, from the latest one in the work dir",
    )
    parser.add_argument("--amp", action="store_true", help="automatic mixed precision")
    parser.add_argument("--auto-scale-lr", action="store_true", help="scale lr by batch size")
    _common_args(parser)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options, args.data_root, args.work_dir, args.launcher)
        check_data(cfg, splits=("train", "val") if cfg.get("val_cfg") else ("train",))
    except (UserInputError, FileNotFoundError) as err:
        _fail(err)
    if args.amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.resume == "auto":
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            _fail(f"--resume checkpoint '{args.resume}' not found")
        cfg.resume, cfg.load_from = True, args.resume
    init_cpu_distributed(args.launcher)
    try:
        runner = Runner.from_cfg(cfg)
        runner.train()
    except UserInputError as err:
        _fail(err)
    return runner


UNSAFE_FLAG = "--unsafe-trust-checkpoint"


def load_weights(runner, checkpoint, config, trust=False):
    """Strictly load ``checkpoint`` into the runner's model, or exit with a clear message.

    Loading goes through torch's weights-only unpickler plus lzu's allowlist.
    ``trust=True`` (the ``--unsafe-trust-checkpoint`` flag) unpickles the file
    with every global allowed, which can run code stored in it: only for a file
    the user trusts that the safe loader refuses.
    """
    try:
        if trust:
            print(f"WARNING: {UNSAFE_FLAG}: unpickling '{checkpoint}' without restrictions; "
                  "a malicious file can run arbitrary code on this machine", file=sys.stderr)
            ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
            model = runner.model.module if hasattr(runner.model, "module") else runner.model
            _load_checkpoint_to_model(model, ckpt, strict=True)
        else:
            runner.load_checkpoint(checkpoint, map_location="cpu", strict=True)
    except CheckpointError as err:
        hint = f"\nif you trust this file, {UNSAFE_FLAG} loads it without that protection"
        _fail(f"{err}{hint if 'refused' in str(err) else ''}")
    except RuntimeError as err:
        _fail(f"checkpoint '{checkpoint}' does not match the model of '{config}':\n{err}")


def summarize_nuscenes_metrics(metrics):
    """Pick NDS, mAP and the TP errors out of NuScenesMetric's flat dict."""
    summary = {}
    for key in METRIC_KEYS:
        hits = [v for k, v in metrics.items() if k.endswith(f"/{key}")]
        if hits:
            summary[key] = float(hits[0])
    return summary


def format_metrics_table(summary, title=""):
    head = "| " + " | ".join(k for k in METRIC_KEYS if k in summary) + " |"
    rule = "|" + "|".join("---" for k in METRIC_KEYS if k in summary) + "|"
    row = "| " + " | ".join(f"{summary[k]:.4f}" for k in METRIC_KEYS if k in summary) + " |"
    return "\n".join(x for x in (title, head, rule, row) if x)


def evaluate_main(argv=None):
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint with NuScenesMetric")
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
        cfg = load_config(args.config, args.cfg_options, args.data_root, args.work_dir, args.launcher)
        check_data(cfg, splits=("val",))
    except (UserInputError, FileNotFoundError) as err:
        _fail(err)
    if not osp.isfile(args.checkpoint):
        _fail(f"checkpoint '{args.checkpoint}' not found")
    name = osp.splitext(osp.basename(args.checkpoint))[0]
    for key in ("test_evaluator", "val_evaluator"):
        if cfg.get(key) is not None and "jsonfile_prefix" not in cfg[key]:
            cfg[key]["jsonfile_prefix"] = osp.join(cfg.work_dir, f"results_{name}")
    cfg.load_from = None
    init_cpu_distributed(args.launcher)
    try:
        runner = Runner.from_cfg(cfg)
    except UserInputError as err:
        _fail(err)
    load_weights(runner, args.checkpoint, args.config, trust=args.unsafe_trust_checkpoint)
    try:
        metrics = runner.test()
    except UserInputError as err:
        _fail(err)
    summary = summarize_nuscenes_metrics(metrics)
    out = args.out or osp.join(cfg.work_dir, f"metrics_{name}.json")
    if runner.rank == 0:
        atomic_write_json(
            out,
            {"config": args.config, "checkpoint": args.checkpoint, "summary": summary,
             "metrics": {k: float(v) for k, v in metrics.items()}},
        )
        print(format_metrics_table(summary, f"{osp.basename(args.config)} @ {name}"))
        print(f"metrics written to {out}")
    return summary
