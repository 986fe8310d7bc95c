"""Evaluate a checkpoint: mmdet3d conventions (config, checkpoint, --work-dir, --cfg-options, --launcher)."""

import _checkout  # noqa: F401  (first: this checkout's lzu; CPU defaults before torch loads)

# isort: split

from lzu.apis.entrypoints import evaluate_main
from lzu.infra.cli import run_main

if __name__ == "__main__":
    run_main(evaluate_main, "test")
