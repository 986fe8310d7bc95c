"""Train a detector: mmdet3d conventions (config, --work-dir, --resume, --cfg-options, --launcher)."""

from lzu.infra.entrypoints import train_main

if __name__ == "__main__":
    train_main()
