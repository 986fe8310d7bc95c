"""Write a small synthetic street-scene set in the Cityscapes layout (19 train ids, 255 ignored).

    python tools/make_synthetic_cityscapes.py --root data/cityscapes_synthetic \
        [--train-frames 40 --val-frames 10 --size 512 1024 --seed 0]

mmseg's CityscapesDataset reads it as it reads Cityscapes (leftImg8bit/, gtFine/
*_gtFine_labelTrainIds.png); see lzu/data/synthetic/cityscapes_writer.py. A previous
synthetic set under --root is replaced; a real Cityscapes set there is never touched.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import argparse
import sys
import time

from tqdm import tqdm

from lzu.data.synthetic import write_synthetic_cityscapes
from lzu.data.synthetic.cityscapes_writer import MIN_SIZE
from lzu.infra.cli import run_main
from lzu.infra.errors import UserInputError
from lzu.infra.output_paths import check_output_folder


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="dataset root to write")
    p.add_argument("--train-frames", type=int, default=40)
    p.add_argument("--val-frames", type=int, default=10)
    p.add_argument("--size", type=int, nargs=2, default=(512, 1024), metavar=("H", "W"),
                   help="frame size (Cityscapes: 1024 2048)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if min(args.size) < MIN_SIZE:
        raise UserInputError(f"--size {args.size[0]} {args.size[1]} is too small: the smallest "
                             f"frame is --size {MIN_SIZE} {MIN_SIZE}")
    for name in ("train_frames", "val_frames"):
        if getattr(args, name) < 1:
            raise UserInputError(f"--{name.replace('_', '-')} {getattr(args, name)}: give at least 1")
    check_output_folder(args.root, "--root")
    start = time.perf_counter()
    try:
        counts = write_synthetic_cityscapes(
            args.root, args.train_frames, args.val_frames, tuple(args.size), args.seed,
            progress=lambda jobs: tqdm(jobs, desc="frames", unit="frame"))
    except (ValueError, FileExistsError) as err:
        sys.exit(f"make_synthetic_cityscapes: {err}")
    print(f"wrote a Cityscapes-layout set under {args.root} in {time.perf_counter() - start:.1f} s: "
          f"{counts['train']} train, {counts['val']} val frames of {args.size[1]}x{args.size[0]}")


if __name__ == "__main__":
    run_main(main, "make_synthetic_cityscapes")
