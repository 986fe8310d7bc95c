"""Evaluate a checkpoint: mmdet3d conventions (config, checkpoint, --work-dir, --cfg-options, --launcher)."""

from lzu.infra.cli import run_main
from lzu.infra.entrypoints import evaluate_main

if __name__ == "__main__":
    run_main(evaluate_main, "test")
