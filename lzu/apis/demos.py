"""The steps the demos share (``tools/demo.py``, ``tools/demo_det2d.py``, ``tools/demo_seg.py``).

Each demo writes a synthetic set, builds a saliency, trains and scores its models
(``lzu.apis.train_score.train_and_evaluate``: ``tools/train.py`` and ``tools/test.py``), then
writes ``demo_results.json`` / ``demo_results.md``. A work dir is locked for one demo and
records the options it was made with (``demo_options.json``): a rerun with other options
stops with a message instead of mixing results; ``--fresh`` starts over.

No step writes through a link: the work dir is held (``acquire_lock``), walked for links
before every step (``run``: the steps are other processes, which write into its subfolders),
and a folder is refused if it is a link before it is deleted (``remove``).
"""

import argparse
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

from lzu.apis.checkout import ROOT, child_env
from lzu.data.synthetic.completion import check_complete
from lzu.infra.atomic_io import atomic_open, atomic_write_json, check_not_link, open_nofollow
from lzu.infra.errors import UserInputError
from lzu.infra.output_paths import check_output_folder
from lzu.infra.records import read_json_record
from lzu.infra.workdir import LOCK_NAME, acquire_lock, refuse_symlinks

__all__ = ["check_options", "demo_parser", "ensure_infos", "ensure_synthetic",
           "ensure_synthetic_nuscenes", "markdown_table", "nuscenes_options",
           "nuscenes_set_arguments", "remove", "run", "say",
           "schedule_options", "start_work_dir", "write_results"]


#: the work dir ``start_work_dir`` locked in this process (walked for links before each step)
_WORK_DIRS = []


def say(msg):
    print(f"[demo] {msg}", flush=True)


def remove(path):
    """Delete the file or folder ``path`` (if any); a link is removed itself, never followed,
    and a folder that became a link since it was looked at is refused (``LinkError``)."""
    if osp.islink(path) or osp.isfile(path):
        os.unlink(path)
    elif osp.isdir(path):
        check_not_link(path)
        shutil.rmtree(path)


def run(cmd, log=None):
    for wd in _WORK_DIRS:
        refuse_symlinks(wd)  # planted since the last step: the step would write through it
    say(" ".join(cmd) + (f"  (log: {log})" if log else ""))
    if log:
        with open_nofollow(log, "w", encoding="utf-8") as f:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, bufsize=1)
            for line in proc.stdout:
                f.write(line)
                if "Iter(train)" in line or line.startswith(("Traceback", "error")):
                    print("    " + _short(line), flush=True)
            code = proc.wait()
    else:
        code = subprocess.run(cmd, cwd=ROOT, env=child_env()).returncode
    if code != 0:
        sys.exit(f"[demo] step failed (exit {code}): {' '.join(cmd)}" + (f"; see {log}" if log else ""))


def _short(line):
    """`... Iter(train) [ 20/240] ... eta ... loss: x ...` -> a compact progress line."""
    keep = re.findall(r"Iter\(train\) \[\s*\d+/\d+\]|eta: \S+|loss: \S+", line)
    return "  ".join(keep) if keep else line.strip()[-160:]


def nuscenes_set_arguments(parser):
    """--scenes and --samples: the size of the synthetic nuScenes-format set."""
    parser.add_argument("--scenes", type=int, nargs=2, default=(8, 2), metavar=("TRAIN", "VAL"))
    parser.add_argument("--samples", type=int, default=5, help="key frames per scene")


def demo_parser(description, work_dir, iters, set_arguments=nuscenes_set_arguments):
    """The options every demo has (those ``check_options`` records, plus --work-dir, --fresh);
    ``set_arguments(parser)`` adds those of the demo's synthetic set, after --iters."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--work-dir", default=work_dir)
    p.add_argument("--iters", type=int, default=iters, help="training iterations per model")
    set_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="delete the work dir first")
    return p


def schedule_options(iters, seed=None):
    """cfg-options that make a demo config train ``iters`` iterations (LR step at 80 %)."""
    opts = [f"train_cfg.max_iters={iters}", f"train_cfg.val_interval={iters}",
            f"param_scheduler.1.end={iters}", f"param_scheduler.1.milestones=[{int(iters * 0.8)}]"]
    return opts + ([f"randomness.seed={seed}"] if seed is not None else [])


def check_options(wd, args, keys=("seed", "scenes", "samples", "iters")):
    """Refuse to reuse a work dir made with other options ``keys`` of ``args``; record them first."""
    options = {k: list(v) if isinstance(v, tuple | list) else v
               for k, v in ((k, getattr(args, k)) for k in keys)}
    path = osp.join(wd, "demo_options.json")
    if osp.isfile(path):
        before = read_json_record(path, "demo options record", "rerun with --fresh to start "
                                  "over, or pick another --work-dir")
        changed = {k: (before.get(k), v) for k, v in options.items() if before.get(k) != v}
        if changed:
            diff = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
            sys.exit(f"[demo] error: {wd} holds data and checkpoints made with other options "
                     f"({diff}); rerun with --fresh to start over, or pick another --work-dir")
    elif osp.isdir(wd) and set(os.listdir(wd)) - {LOCK_NAME}:
        sys.exit(f"[demo] error: {wd} exists but was not made by this demo (no demo_options.json); "
                 "rerun with --fresh to start over, or pick another --work-dir")
    else:
        os.makedirs(wd, exist_ok=True)
        atomic_write_json(path, options)


def start_work_dir(args, keys=("seed", "scenes", "samples", "iters")):
    """``args.work_dir``, locked for this demo (a second demo there is refused, naming the
    first), emptied first with --fresh, checked against its recorded options.

    A work dir holding a symbolic link is refused (the demo writes and deletes there).
    """
    wd = args.work_dir
    try:
        check_output_folder(wd, "--work-dir")
        refuse_symlinks(wd)
        acquire_lock(wd)
    except UserInputError as err:
        sys.exit(f"[demo] error: {err}")
    if args.fresh:
        for name in os.listdir(wd):
            if name != LOCK_NAME:
                remove(osp.join(wd, name))
    check_options(wd, args, keys)
    if wd not in _WORK_DIRS:
        _WORK_DIRS.append(wd)
    return wd


def ensure_synthetic(root, options, cmd, derived, step):
    """Run the generator ``cmd`` unless ``root`` holds a complete set made with ``options``
    (its completion record, written last, lists every file and its size).

    A regenerated set replaces the old one with what was made from it (info files), and the
    ``derived`` paths outside it (saliency, converted copies) are deleted. Returns whether it
    was (re)generated.
    """
    why = check_complete(root, options)
    if why is None:
        say(f"{step} reusing {root} (complete)")
        return False
    say(f"{step} generating the synthetic set under {root} ({why})")
    for path in derived:
        remove(path)
    run(cmd)
    why = check_complete(root, options)
    if why is not None:
        sys.exit(f"[demo] error: the generator ran but {root} is not complete: {why}")
    return True


def nuscenes_options(args):
    """What make_synthetic_nuscenes.py records for the demo's options (completion record)."""
    return {"train_scenes": args.scenes[0], "val_scenes": args.scenes[1],
            "samples_per_scene": args.samples, "seed": args.seed, "image_size": [1600, 900]}


def ensure_synthetic_nuscenes(py, root, args, derived, step):
    """``ensure_synthetic`` for the synthetic nuScenes-format set of the demo's --scenes,
    --samples and --seed (tools/make_synthetic_nuscenes.py) under ``root``."""
    return ensure_synthetic(root, nuscenes_options(args), [
        py, "tools/make_synthetic_nuscenes.py", "--root", root, "--train-scenes",
        str(args.scenes[0]), "--val-scenes", str(args.scenes[1]), "--samples-per-scene",
        str(args.samples), "--seed", str(args.seed)], derived, step)


def ensure_infos(py, wd, data):
    """mmdet3d's infos for ``data`` (a complete synthetic set): made unless both exist. The
    generator deletes them with the set they were made from, so existing ones are current."""
    infos = [osp.join(data, f"nuscenes_infos_{s}.pkl") for s in ("train", "val")]
    if all(osp.isfile(p) for p in infos):
        say("    reusing the info files")
        return
    say("    preparing infos with mmdet3d's converter")
    run([py, "tools/create_data.py", "--root-path", data, "--version", "v1.0-mini",
         "--max-sweeps", "0"], log=osp.join(wd, "create_data.log"))


def markdown_table(corner, columns, rows):
    """The lines of a markdown table: ``corner`` heads the label column, ``rows`` holds
    ``(label, cells)`` pairs with one formatted cell per column."""
    lines = ["| " + " | ".join([corner, *columns]) + " |", "|---|" + "---|" * len(columns)]
    return lines + [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]


def write_results(wd, payload, md, extra=()):
    """demo_results.json (``payload``) and demo_results.md (``md``), atomically; prints ``md``."""
    atomic_write_json(osp.join(wd, "demo_results.json"), payload)
    with atomic_open(osp.join(wd, "demo_results.md"), "w", encoding="utf-8") as f:
        f.write(md)
    print("\n" + md)
    say(f"wrote {', '.join([f'{wd}/demo_results.json', 'demo_results.md', *extra])}")
