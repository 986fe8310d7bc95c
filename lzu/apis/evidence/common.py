"""What the evidence task modules share: one in-process mmengine run, size statistics.

``train_and_test(config, edit, work_dir, seed, iters, log)`` loads a config, lets ``edit``
change it (data root, size, saliency), sets the schedule length and the seed, trains from
scratch with mmengine's Runner in this process (``lzu.apis.train_score``; no checkpoint is
written) and returns the test metrics of the trained model with the config's fingerprint
(``lzu.apis.train_score.config_sha256``).
"""

import contextlib
import io
import os.path as osp

import numpy as np

from lzu.apis import train_score
from lzu.apis.checkout import ROOT
from lzu.apis.train_score import config_sha256

__all__ = ["ROOT", "run_saliency_tool", "set_pipeline_resize", "size_stats",
           "train_and_test"]

#: COCO's area thresholds (px^2): small < 32^2 <= medium < 96^2 <= large
COCO_SMALL, COCO_LARGE = 32 ** 2, 96 ** 2


def set_pipeline_resize(cfg, scale):
    """Set the ``Resize`` scale ``(W, H)`` of every train/val/test pipeline of ``cfg``; returns
    how many were set (0 for a config without one)."""
    found = 0
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        for step in cfg[key]["dataset"]["pipeline"]:
            if step["type"] == "Resize":
                step["scale"] = tuple(scale)
                found += 1
    return found


def _schedule(cfg, iters):
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1  # scored once, by runner.test(), after training
    for sched in cfg.param_scheduler:
        if sched["type"] == "LinearLR":
            sched["end"] = min(sched["end"], max(1, iters // 10))
        elif sched["type"] == "MultiStepLR":
            sched["end"] = iters
            sched["milestones"] = [int(iters * 0.8)]
        else:
            sched["end"] = iters


def train_and_test(config, edit, work_dir, seed, iters, log, name):
    """Train ``config`` (edited in place by ``edit(cfg)``) for ``iters`` iterations with ``seed``
    (initialisation and data order), test it; returns ``(metrics, config_sha256, seconds)``.

    The run is ``lzu.apis.train_score.train_and_test`` in ``<work_dir>/<name>``; mmengine's
    console output goes to its ``console.log`` instead of the terminal.
    """
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(ROOT, config))
    edit(cfg)
    _schedule(cfg, iters)
    cfg.randomness = dict(seed=int(seed), deterministic=False)
    cfg.launcher = "none"
    sha = config_sha256(cfg, work_dir)
    cfg.work_dir = osp.join(work_dir, name)
    metrics, seconds = train_score.train_and_test(cfg, name)
    log(f"    trained {iters} iterations and tested in {seconds:.0f} s")
    return {k: float(v) for k, v in metrics.items()}, sha, seconds


def run_saliency_tool(args, log):
    """Run the saliency builder of tools/make_saliency.py in this process."""
    from lzu.apis.data_commands import make_saliency_main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        make_saliency_main(list(args))
    log("    " + buffer.getvalue().strip().splitlines()[-1])


def size_stats(widths, heights):
    """Object-size statistics of boxes ``(w, h)`` in px: count, quantiles of sqrt(area), and
    the COCO small / medium / large fractions (area < 32^2, < 96^2, else)."""
    w = np.asarray(widths, dtype=np.float64)
    h = np.asarray(heights, dtype=np.float64)
    if w.size == 0:
        return {"count": 0}
    side = np.sqrt(w * h)
    area = w * h
    q = np.percentile(side, [10, 50, 90])
    return {"count": int(w.size),
            "sqrt_area_p10_p50_p90": [round(float(v), 2) for v in q],
            "height_p50": round(float(np.median(h)), 2),
            "coco_small": round(float(np.mean(area < COCO_SMALL)), 4),
            "coco_medium": round(float(np.mean((area >= COCO_SMALL) & (area < COCO_LARGE))), 4),
            "coco_large": round(float(np.mean(area >= COCO_LARGE)), 4),
            "under_8px": round(float(np.mean(side < 8)), 4)}
