"""Train a model and score it: the one way the demos and the evidence benchmark do it.

* ``train_and_test(cfg, name, quiet)``: in this process, with mmengine's Runner: trains
  ``cfg`` from scratch (in ``cfg.work_dir``), tests the trained model with the config's test
  evaluator and returns ``(metrics, seconds)``; nothing else is kept (the evidence benchmark's
  runs, many per process: each run's log handlers are closed after it).
* ``train_and_evaluate(...)``: through the commands ``tools/train.py`` and ``tools/test.py``,
  one subprocess each, so a run leaves its checkpoint, its log and its metrics JSON (with its
  provenance) in its work dir, and a rerun reuses a finished checkpoint (the demos).
* ``config_sha256(cfg, work_dir)``: the fingerprint of a run's config, recorded with its
  result: the merged config as canonical JSON, without what differs between runs of one
  setting (the seed, the work dir, the experiment name), the ``work_dir`` path written as
  ``<work_dir>`` (moving the work dir does not change it).

Wall times are ``time.perf_counter`` seconds.
"""

import contextlib
import hashlib
import io
import json
import logging
import os
import os.path as osp
import time

from lzu.apis.demos import run, say
from lzu.apis.metrics_record import read_metrics_file
from lzu.apis.runtime import cfg_option
from lzu.infra.atomic_io import atomic_open

__all__ = ["config_sha256", "train_and_evaluate", "train_and_test"]

#: config keys that differ between runs of one setting (not part of its fingerprint)
RUN_KEYS = ("randomness", "work_dir", "experiment_name")


def config_sha256(cfg, work_dir=None):
    """sha256 of ``cfg`` (an mmengine Config) as canonical JSON, ``RUN_KEYS`` left out and
    ``work_dir`` written as ``<work_dir>``: one value per setting, the same for every seed."""
    content = cfg.to_dict()
    for key in RUN_KEYS:
        content.pop(key, None)
    text = json.dumps(content, sort_keys=True, default=repr)
    if work_dir:
        text = text.replace(osp.abspath(work_dir), "<work_dir>")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def train_and_test(cfg, name, quiet=True):
    """Train ``cfg`` in ``cfg.work_dir`` and test it, in this process; ``(metrics, seconds)``.

    ``name`` starts the run's experiment name (made unique with the time). ``quiet``:
    mmengine logs warnings only, and what it prints goes to ``<work_dir>/console.log``
    instead of the terminal.
    """
    from mmengine.logging import MMLogger
    from mmengine.runner import Runner

    import lzu.openmmlab  # noqa: F401  (registers lzu's modules)

    start = time.perf_counter()
    os.makedirs(cfg.work_dir, exist_ok=True)
    cfg.experiment_name = f"{name}_{time.time_ns()}"
    if quiet:
        cfg.log_level = "WARNING"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer) if quiet else contextlib.nullcontext():
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.test()
    if quiet:
        with atomic_open(osp.join(cfg.work_dir, "console.log"), "w", encoding="utf-8") as f:
            f.write(buffer.getvalue())
    # close this run's log file handlers (one Runner per run, many runs per process)
    logger = MMLogger.get_instance(cfg.experiment_name)
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            logger.removeHandler(handler)
    del runner
    return metrics, time.perf_counter() - start


def train_and_evaluate(py, wd, data, models, saliency, iters, common, scorer, step, steps,
                       model_opts=None):
    """Train each ``(label, config)`` (unless its checkpoint exists) and score it with tools/test.py.

    Training is step ``step`` of ``steps`` in the messages, scoring the next one.
    ``model_opts``: label -> extra cfg-options of that model (default: the saliency file
    of the model labelled ``LZU``). Returns ``(summaries by label, checkpoints, metrics
    files)``.
    """
    results, checkpoints, metrics_files = {}, [], []
    for i, (label, config) in enumerate(models):
        name = osp.splitext(osp.basename(config))[0]
        mwd = osp.join(wd, name)
        opts = list(common)
        if model_opts is not None:
            opts.extend(model_opts.get(label, ()))
        elif label == "LZU":
            opts.append(cfg_option("model.grid_generator.saliency_file", saliency))
        ckpt = osp.join(mwd, f"iter_{iters}.pth")
        if not osp.isfile(ckpt):
            say(f"{step}/{steps} training {label} ({name}) for {iters} iterations "
                f"[{i + 1}/{len(models)}]")
            # evaluated once, below, by tools/test.py: no validation inside training
            no_val = ["val_cfg=None", "val_dataloader=None", "val_evaluator=None"]
            run([py, "tools/train.py", config, "--work-dir", mwd, "--data-root", data,
                 "--cfg-options", *opts, *no_val], log=osp.join(wd, f"train_{name}.log"))
        else:
            say(f"{step}/{steps} reusing {ckpt}")
        metrics_file = osp.join(mwd, f"metrics_iter_{iters}.json")
        say(f"{step + 1}/{steps} evaluating {label} with {scorer}")
        run([py, "tools/test.py", config, ckpt, "--work-dir", mwd, "--data-root", data,
             "--out", metrics_file, "--cfg-options", *opts], log=osp.join(wd, f"test_{name}.log"))
        results[label] = read_metrics_file(metrics_file)
        checkpoints.append(ckpt)
        metrics_files.append(metrics_file)
    return results, checkpoints, metrics_files

