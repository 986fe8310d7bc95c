"""Evaluate a checkpoint: mmdet3d conventions (config, checkpoint, --work-dir, --cfg-options, --launcher)."""

from lzu.infra.entrypoints import evaluate_main

if __name__ == "__main__":
    evaluate_main()
