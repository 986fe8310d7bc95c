"""Build saliency.pkl (the paper's format) from the training set's 2-D boxes.

    python tools/make_saliency.py --infos data/nuscenes/nuscenes_infos_train.pkl --out saliency.pkl
    python tools/make_saliency.py --coco data/argoverse/Argoverse-HD/annotations/train.json \
        --image-size 1920 1200 --out data/argoverse/saliency_kde.pkl

A dataset-wide KDE of box centres (FOVEA's "KDE S_D"); see lzu/data/saliency_kde.py.
An existing output file (e.g. the paper's own saliency.pkl) is never
overwritten unless --force is given.
"""

import argparse
import os.path as osp
import sys

from tqdm import tqdm

from lzu.core.saliency_io import save_saliency
from lzu.data.infos import InfoFileError, camera_boxes, load_infos
from lzu.data.saliency_kde import coco_boxes, kde_saliency


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--infos", help="mmdet3d v2 train info file (2-D boxes of cam_instances)")
    src.add_argument("--coco", help="COCO-format train json (e.g. Argoverse-HD's train.json)")
    p.add_argument("--out", default="saliency.pkl")
    p.add_argument("--bandwidth", type=float, default=64.0, help="b: variance = b x box size")
    p.add_argument("--amplitude", type=float, default=1.0, help="a: mass of each box's Gaussian")
    p.add_argument("--grid-shape", type=int, nargs=2, default=(27, 48), metavar=("GH", "GW"))
    p.add_argument("--image-size", type=int, nargs=2, default=(1600, 900), metavar=("W", "H"))
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if osp.exists(args.out) and not args.force:
        sys.exit(f"make_saliency: '{args.out}' exists and is kept (use --force to replace it)")
    if args.coco:
        try:
            boxes, n_images = coco_boxes(args.coco)
        except (OSError, ValueError, KeyError) as err:
            sys.exit(f"make_saliency: cannot read COCO boxes from '{args.coco}': {err}")
        source = args.coco
    else:
        try:
            data_list = load_infos(args.infos)
        except InfoFileError as err:
            sys.exit(f"make_saliency: {err}")
        boxes, n_images = camera_boxes(tqdm(data_list, desc="frames", unit="frame")), len(data_list)
        source = f"the cam_instances of '{args.infos}'"
    if len(boxes) == 0:
        sys.exit(f"make_saliency: no 2-D boxes in {source}")
    saliency = kde_saliency(boxes, tuple(args.image_size), tuple(args.grid_shape),
                            args.bandwidth, args.amplitude)
    save_saliency(saliency, args.out)
    rows = saliency[0, 0].sum(dim=1)
    print(f"{len(boxes)} boxes from {n_images} images -> {args.out} "
          f"{list(saliency.shape)}; peak row {int(rows.argmax())}")


if __name__ == "__main__":
    main()
