"""Train a detector: mmdet3d conventions (config, --work-dir, --resume, --cfg-options, --launcher)."""

from lzu.infra.cli import run_main
from lzu.infra.entrypoints import train_main

if __name__ == "__main__":
    run_main(train_main, "train")
