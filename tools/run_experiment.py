"""`sh run.sh <experiment>`: evaluate the paper's checkpoint, train, evaluate the trained model.

    python tools/run_experiment.py lzu_fcos3d_0.75 --work-dir work_dirs/lzu_fcos3d_0.75
    python tools/run_experiment.py seg/lzu_fcn_r50-d8_128x128 --work-dir work_dirs/seg/...

An experiment is a config under configs/ (the paper's eight) or under configs/det2d/,
configs/seg/ or configs/pgd/, named without ".py".
Environment: DATA_ROOT (default: the config's, e.g. data/nuscenes, data/argoverse,
data/cityscapes), GPUS (default: all visible), SALIENCY (LZU and FOVEA only; an adaptive
model's adaptive_saliency.prior_file; default: the config's saliency_file, e.g. the paper's saliency.pkl shipped at the repository root, moved under
DATA_ROOT when it lies under the config's data root; built from the training set only if
that file is absent: a KDE of the boxes of the train infos or COCO json, or the class
boundaries of the training label maps).
Extra arguments (e.g. --cfg-options k=v) go to both training and evaluation.
1. If ckpt/<experiment>.pth exists, evaluate it (else say where it comes from).
2. Train on GPUS GPUs with torchrun (resuming if the work dir has a checkpoint).
3. Evaluate the trained model.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import argparse
import os
import os.path as osp
import subprocess
import sys

import torch

from lzu.apis.checkout import ROOT, child_env
from lzu.infra.cli import run_main
from lzu.infra.output_paths import check_output_folder
from lzu.infra.workdir import latest_valid_checkpoint

PAPER_CKPTS = (
    "the paper's checkpoints are linked from the README of the paper's repository "
    "(github.com/tchittesh/lzu); save them as ckpt/<experiment>.pth"
)


def say(msg):
    print(f"[run.sh] {msg}", flush=True)


def run(cmd):
    say(" ".join(cmd))
    result = subprocess.run(cmd, cwd=ROOT, env=child_env())
    if result.returncode != 0:
        sys.exit(result.returncode)


def gpus_to_use():
    visible = torch.cuda.device_count()
    requested = os.environ.get("GPUS", "")
    if requested == "":
        return visible
    try:
        gpus = int(requested)
    except ValueError:
        sys.exit(f"[run.sh] error: GPUS='{requested}' is not a whole number")
    if gpus < 0:
        sys.exit(f"[run.sh] error: GPUS={gpus} is negative; use 0 for the CPU or 1..{visible}")
    if gpus > visible:
        sys.exit(
            f"[run.sh] error: GPUS={gpus} but only {visible} GPU(s) are visible "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})"
        )
    return gpus


def check_data(config, data_root, extra):
    """The tools' own early checks (options, data root, v2 infos, images), before anything runs."""
    from lzu.apis.data_check import check_data as check
    from lzu.apis.runtime import load_config, parse_cfg_options
    from lzu.infra.errors import UserInputError

    try:
        check(load_config(osp.join(ROOT, config), parse_cfg_options(extra), data_root=data_root))
    except (UserInputError, FileNotFoundError) as err:
        sys.exit(f"[run.sh] error: {err}")


SALIENCY_KEY = "model.grid_generator.saliency_file"
#: an adaptive model's dataset saliency (its prior)
PRIOR_KEY = "model.adaptive_saliency.prior_file"


def saliency_key(cfg):
    """The cfg-options key of the model's dataset saliency (fixed: the grid's; adaptive: the prior)."""
    return PRIOR_KEY if cfg.model.get("adaptive_saliency") else SALIENCY_KEY


def _user_saliency(extra, key=SALIENCY_KEY):
    """The saliency file the user set with ``--cfg-options``, if any (read as the tools read
    it: a quoted path keeps its spaces and commas, without the quotes)."""
    from lzu.apis.runtime import parse_cfg_options

    value = (parse_cfg_options(extra) or {}).get(key)
    return value if isinstance(value, str) else None


def train_dataset(cfg):
    """The training dataset's config, inside any wrapper (RepeatDataset, CBGSDataset, ...)."""
    dataset = cfg.train_dataloader.dataset
    while "dataset" in dataset:
        dataset = dataset.dataset
    return dataset


def config_data_root(config):
    """The data root the config names (its training dataset's)."""
    from lzu.apis.runtime import load_config

    return train_dataset(load_config(osp.join(ROOT, config))).data_root.rstrip("/")


def saliency_command(cfg, data_root, out):
    """The tools/make_saliency.py call that builds the config's saliency from its training set."""
    dataset = train_dataset(cfg)
    grid = [str(int(v)) for v in cfg.model.grid_generator.get("grid_shape", (27, 48))]
    prefix = dataset.get("data_prefix") or {}
    if not dataset.get("ann_file") and "seg_map_path" in prefix:  # mmseg folder dataset
        source = ["--seg-labels", osp.join(data_root, prefix["seg_map_path"])]
        if dataset.get("seg_map_suffix"):
            source += ["--label-suffix", dataset.seg_map_suffix]
    elif str(dataset.get("ann_file", "")).endswith(".json"):  # COCO / Argoverse-HD
        source = ["--coco", osp.join(data_root, dataset.ann_file)]
    else:  # mmdet3d info file
        source = ["--infos", osp.join(data_root, dataset.ann_file)]
    return [sys.executable, "tools/make_saliency.py", *source, "--grid-shape", *grid, "--out", out]


def ensure_saliency(config, data_root, extra):
    """The LZU saliency: the user's (SALIENCY or --cfg-options), else the config's file
    (none when the config names none, e.g. FOVEA's S_I).

    The config's file moves under ``data_root`` when it lies under the config's own data
    root. Built from the training set only if that file is absent; never overwritten.
    Returns cfg-options to put *before* the user's, so that an option the user gave always
    wins.
    """
    from lzu.apis.runtime import cfg_option, load_config

    cfg = load_config(osp.join(ROOT, config))
    key = saliency_key(cfg)
    env, given = os.environ.get("SALIENCY"), _user_saliency(extra, key)
    if env and given and osp.abspath(env) != osp.abspath(given):
        sys.exit(f"[run.sh] error: SALIENCY={env} and --cfg-options {key}={given} "
                 "disagree; give one of them")
    path = given or env
    if not path:
        path = (cfg.model.adaptive_saliency.get("prior_file") if key == PRIOR_KEY
                else cfg.model.grid_generator.get("saliency_file"))
        if not path:  # e.g. FOVEA's S_I: a KDE of each frame's boxes, no dataset saliency
            say(f"{config} uses no dataset saliency")
            return []
        own_root = train_dataset(cfg).data_root.rstrip("/") + "/"
        if path.startswith(own_root):
            path = osp.join(data_root, path[len(own_root):])
    path = osp.abspath(path)
    from lzu.infra.errors import UserInputError
    from lzu.infra.workdir import locked

    # two experiments needing one saliency: the second waits for the first to build it
    lock = osp.join(osp.dirname(path), f".{osp.basename(path)}.lock")
    try:
        with locked(lock, f"the saliency {path} being built"):
            if osp.isfile(path):
                say(f"using saliency {path} (never overwritten)")
            else:
                say(f"{path} is missing: building it from the training set under {data_root}")
                run(saliency_command(cfg, data_root, path))
    except UserInputError as err:
        sys.exit(f"[run.sh] error: {err}")
    return [] if given else ["--cfg-options", cfg_option(key, path)]


def evaluate(config, checkpoint, work_dir, data_root, extra=()):
    run([sys.executable, "tools/test.py", config, checkpoint,
         "--work-dir", work_dir, "--data-root", data_root, *extra])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--work-dir", required=True)
    args, extra = parser.parse_known_args(argv)
    check_output_folder(args.work_dir, "--work-dir")
    config = osp.join("configs", f"{args.experiment}.py")
    if not osp.isfile(osp.join(ROOT, config)):
        sys.exit(f"[run.sh] error: no config '{config}'")
    data_root = os.environ.get("DATA_ROOT") or config_data_root(config)
    work_dir = args.work_dir
    gpus = gpus_to_use()
    check_data(config, data_root, extra)
    if osp.basename(args.experiment).startswith(("lzu", "fovea")):
        extra = [*ensure_saliency(config, data_root, extra), *extra]

    paper_ckpt = osp.join("ckpt", f"{args.experiment}.pth")
    if osp.isfile(osp.join(ROOT, paper_ckpt)):
        say(f"1/3 evaluating the paper's checkpoint {paper_ckpt}")
        evaluate(config, paper_ckpt, osp.join(work_dir, "paper_ckpt"), data_root, extra)
    elif "/" in args.experiment:
        say(f"1/3 no {paper_ckpt}: skipping its evaluation (the paper released checkpoints "
            "for its nuScenes experiments only)")
    else:
        say(f"1/3 no {paper_ckpt}: skipping its evaluation; {PAPER_CKPTS}")

    train = [osp.join("tools", "train.py"), config, "--work-dir", work_dir,
             "--data-root", data_root, *extra]
    resume_from, skipped = latest_valid_checkpoint(work_dir)
    for bad in skipped:
        say(f"{bad} is incomplete (killed while saving?): skipping it")
    if resume_from:
        say(f"found {resume_from}: resuming")
        train += ["--resume", resume_from]
    if gpus >= 1:
        say(f"2/3 training on {gpus} GPU(s)")
        run([sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}",
             *train, "--launcher", "pytorch"])
    else:
        say("2/3 no GPU visible: training on the CPU in one process (days on a full dataset)")
        run([sys.executable, *train])

    ckpt, _ = latest_valid_checkpoint(work_dir)
    if ckpt is None:
        sys.exit(f"[run.sh] error: training wrote no checkpoint into {work_dir}")
    say(f"3/3 evaluating {ckpt}")
    evaluate(config, ckpt, work_dir, data_root, extra)


if __name__ == "__main__":
    run_main(main, "run.sh")
