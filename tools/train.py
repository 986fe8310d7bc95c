"""Train a detector: mmdet3d conventions (config, --work-dir, --resume, --cfg-options, --launcher)."""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

from lzu.apis.entrypoints import train_main
from lzu.infra.cli import run_main

if __name__ == "__main__":
    run_main(train_main, "train")
