"""Prepare nuScenes for monocular 3D detection with mmdet3d's converter.

    python tools/create_data.py --root-path data/nuscenes [--version v1.0-trainval]

Writes nuscenes_infos_train.pkl and nuscenes_infos_val.pkl (mmdet3d v2 format,
with per-camera instances) into the data root.
"""

import _checkout  # noqa: F401  (first: this checkout's lzu; CPU defaults before torch loads)

# isort: split

import argparse
import sys

from lzu.data.data_prep import create_mono3d_infos
from lzu.infra.cli import run_main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root-path", default="data/nuscenes", help="nuScenes data root")
    parser.add_argument(
        "--version",
        default="v1.0-trainval",
        choices=["v1.0-trainval", "v1.0-mini", "v1.0-test"],
        help="dataset version (folder of JSON tables under the root)",
    )
    parser.add_argument("--info-prefix", default="nuscenes")
    parser.add_argument("--max-sweeps", type=int, default=10, help="LiDAR sweeps per info")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        paths = create_mono3d_infos(args.root_path, args.version, args.info_prefix, args.max_sweeps)
    except FileNotFoundError as err:
        sys.exit(f"create_data: {err}")
    for path in paths:
        print(f"wrote {path}")


if __name__ == "__main__":
    run_main(main, "create_data")
