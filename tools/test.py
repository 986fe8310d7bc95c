"""Evaluate a checkpoint: mmdet3d conventions (config, checkpoint, --work-dir, --cfg-options, --launcher)."""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

from lzu.apis.entrypoints import evaluate_main
from lzu.infra.cli import run_main

if __name__ == "__main__":
    run_main(evaluate_main, "test")
