"""Prepare nuScenes for monocular 3D detection with mmdet3d's converter.

    python tools/create_data.py --root-path data/nuscenes [--version v1.0-trainval]

Writes nuscenes_infos_train.pkl and nuscenes_infos_val.pkl (mmdet3d v2 format,
with per-camera instances) into the data root.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

from lzu.apis.data_commands import create_data_main
from lzu.infra.cli import run_main

if __name__ == "__main__":
    run_main(create_data_main, "create_data")
