"""Write a tiny synthetic dataset in the nuScenes layout (version v1.0-mini).

    python tools/make_synthetic_nuscenes.py --root data/nuscenes_synthetic

Scene names follow nuscenes.utils.splits (mini_train / mini_val), so the
devkit and mmdet3d's converter treat it as nuScenes-mini; see
lzu/data/synthetic/nuscenes_writer.py. A previous synthetic set under --root is
replaced; a real nuScenes set there is never touched.
"""

import _checkout  # noqa: F401  (first: this checkout's lzu; CPU defaults before torch loads)

# isort: split

import argparse
import sys
import time

from lzu.data.synthetic import write_synthetic_nuscenes
from lzu.infra.cli import run_main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="dataset root to write")
    p.add_argument("--train-scenes", type=int, default=2, help="scenes in mini_train (0..8)")
    p.add_argument("--val-scenes", type=int, default=1, help="scenes in mini_val (0..2)")
    p.add_argument("--samples-per-scene", type=int, default=3, help="key frames per scene (>= 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, nargs=2, default=(1600, 900), metavar=("W", "H"),
                   help="camera image size (intrinsics scaled with it); mmdet3d's converter "
                        "clips 2-D boxes to 1600 x 900")
    p.add_argument("--objects-per-sample", type=int, nargs=2, default=(6, 12), metavar=("LO", "HI"),
                   help="objects alive per key frame, drawn in LO..HI")
    p.add_argument("--far-bias", type=float, default=0.0,
                   help="distance density d**FAR_BIAS in each class's range: 0 uniform in "
                        "distance, 1 uniform per unit of ground area")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        summary = write_synthetic_nuscenes(
            args.root,
            train_scenes=args.train_scenes,
            val_scenes=args.val_scenes,
            samples_per_scene=args.samples_per_scene,
            seed=args.seed,
            image_size=tuple(args.image_size),
            objects_per_sample=tuple(args.objects_per_sample),
            far_bias=args.far_bias,
        )
    except (ValueError, FileExistsError) as err:
        sys.exit(f"make_synthetic_nuscenes: {err}")
    elapsed = time.perf_counter() - start
    print(f"wrote {summary['version']} under {summary['root']} in {elapsed:.1f} s")
    for split in ("train", "val"):
        s = summary[split]
        print(f"  {split}: {s['scenes']} scenes, {s['samples']} samples, "
              f"{s['annotations']} annotations")


if __name__ == "__main__":
    run_main(main, "make_synthetic_nuscenes")
