"""Write a tiny synthetic dataset in the nuScenes layout (version v1.0-mini).

    python tools/make_synthetic_nuscenes.py --root data/nuscenes_synthetic

Scene names follow nuscenes.utils.splits (mini_train / mini_val), so the
devkit and mmdet3d's converter treat it as nuScenes-mini; see
lzu/data/synthetic/nuscenes_writer.py. A previous synthetic set under --root is
replaced; a real nuScenes set there is never touched.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

from lzu.apis.data_commands import make_synthetic_nuscenes_main
from lzu.infra.cli import run_main

if __name__ == "__main__":
    run_main(make_synthetic_nuscenes_main, "make_synthetic_nuscenes")
