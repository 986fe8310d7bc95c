"""`sh run.sh <experiment>`: evaluate the paper's checkpoint, train, evaluate the trained model.

    python tools/run_experiment.py lzu_fcos3d_0.75 --work-dir work_dirs/lzu_fcos3d_0.75

Environment: DATA_ROOT (default data/nuscenes), GPUS (default: all visible),
SALIENCY (LZU only; default <repo>/saliency.pkl, built from the train infos if missing).
Extra arguments (e.g. --cfg-options k=v) go to both training and evaluation.
1. If ckpt/<experiment>.pth exists, evaluate it (else say where it comes from).
2. Train on GPUS GPUs with torchrun (resuming if the work dir has a checkpoint).
3. Evaluate the trained model.
"""

import argparse
import glob
import os
import os.path as osp
import subprocess
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAPER_CKPTS = (
    "the paper's checkpoints are linked from the README of the paper's repository "
    "(github.com/tchittesh/lzu); save them as ckpt/<experiment>.pth"
)


def say(msg):
    print(f"[run.sh] {msg}", flush=True)


def run(cmd):
    say(" ".join(cmd))
    result = subprocess.run(cmd, cwd=ROOT)
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
        sys.exit(f"[run.sh] error: GPUS='{requested}' is not a number")
    if gpus > visible:
        sys.exit(
            f"[run.sh] error: GPUS={gpus} but only {visible} GPU(s) are visible "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})"
        )
    return gpus


def check_data(config, data_root):
    """The tools' own early check (data root, v2 infos, images), before anything runs."""
    from lzu.errors import UserInputError
    from lzu.runtime import check_data as check
    from lzu.runtime import load_config

    try:
        check(load_config(osp.join(ROOT, config), data_root=data_root))
    except (UserInputError, FileNotFoundError) as err:
        sys.exit(f"[run.sh] error: {err}")


def ensure_saliency(data_root):
    """LZU reads SALIENCY (default <repo>/saliency.pkl); build it from the train infos if missing.

    Returns the cfg-options that point the model at it.
    """
    path = os.path.abspath(os.environ.get("SALIENCY") or osp.join(ROOT, "saliency.pkl"))
    if osp.isfile(path):
        say(f"using saliency {path} (never overwritten)")
    else:
        say(f"{path} is missing: building it from {data_root}/nuscenes_infos_train.pkl")
        run([sys.executable, "tools/make_saliency.py",
             "--infos", osp.join(data_root, "nuscenes_infos_train.pkl"), "--out", path])
    return ["--cfg-options", f"model.grid_generator.saliency_file={path}"]


def latest_checkpoint(work_dir):
    """mmengine's ``last_checkpoint`` marker, else the highest ``epoch_N``/``iter_N`` file."""
    marker = osp.join(work_dir, "last_checkpoint")
    if osp.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            path = f.read().strip()
        if path and osp.isfile(path):
            return path
    found = []
    for path in glob.glob(osp.join(work_dir, "*_*.pth")):
        stem = osp.splitext(osp.basename(path))[0]
        kind, _, number = stem.partition("_")
        if kind in ("epoch", "iter") and number.isdigit():
            found.append((kind == "iter", int(number), path))
    return max(found)[2] if found else None


def evaluate(config, checkpoint, work_dir, data_root, extra=()):
    run([sys.executable, "tools/test.py", config, checkpoint,
         "--work-dir", work_dir, "--data-root", data_root, *extra])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--work-dir", required=True)
    args, extra = parser.parse_known_args(argv)
    config = osp.join("configs", f"{args.experiment}.py")
    if not osp.isfile(osp.join(ROOT, config)):
        sys.exit(f"[run.sh] error: no config '{config}'")
    data_root = os.environ.get("DATA_ROOT", "data/nuscenes")
    work_dir = args.work_dir
    check_data(config, data_root)
    if args.experiment.startswith("lzu"):
        extra = [*extra, *ensure_saliency(data_root)]
    gpus = gpus_to_use()

    paper_ckpt = osp.join("ckpt", f"{args.experiment}.pth")
    if osp.isfile(osp.join(ROOT, paper_ckpt)):
        say(f"1/3 evaluating the paper's checkpoint {paper_ckpt}")
        evaluate(config, paper_ckpt, osp.join(work_dir, "paper_ckpt"), data_root, extra)
    else:
        say(f"1/3 no {paper_ckpt}: skipping its evaluation; {PAPER_CKPTS}")

    train = [osp.join("tools", "train.py"), config, "--work-dir", work_dir,
             "--data-root", data_root, *extra]
    resume_from = latest_checkpoint(work_dir)
    if resume_from:
        say(f"found {resume_from}: resuming")
        train += ["--resume", resume_from]
    if gpus >= 1:
        say(f"2/3 training on {gpus} GPU(s)")
        run([sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}",
             *train, "--launcher", "pytorch"])
    else:
        say("2/3 no GPU visible: training on the CPU in one process (days per epoch on nuScenes)")
        run([sys.executable, *train])

    ckpt = latest_checkpoint(work_dir)
    if ckpt is None:
        sys.exit(f"[run.sh] error: training wrote no checkpoint into {work_dir}")
    say(f"3/3 evaluating {ckpt}")
    evaluate(config, ckpt, work_dir, data_root, extra)


if __name__ == "__main__":
    main()
