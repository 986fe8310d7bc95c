"""Build saliency.pkl (the paper's format) from the training set's 2-D boxes or label maps.

    python tools/make_saliency.py --infos data/nuscenes/nuscenes_infos_train.pkl --out saliency.pkl
    python tools/make_saliency.py --coco data/argoverse/Argoverse-HD/annotations/train.json \
        --out data/argoverse/saliency_kde.pkl
    python tools/make_saliency.py --seg-labels data/cityscapes/gtFine/train \
        --out data/cityscapes/saliency_boundary.pkl

Boxes (--infos, --coco): a dataset-wide KDE of box centres (FOVEA's "KDE S_D"), see
lzu/data/saliency_kde.py; grid 27 x 48 by default. Label maps (--seg-labels): how often
each pixel lies on a class boundary, average-pooled to the grid, see
lzu/data/saliency_boundary.py; grid 32 x 32 (square) by default.
An existing output file (e.g. the paper's own saliency.pkl) is never
overwritten unless --force is given.
"""

import _checkout  # noqa: F401  (first: this checkout's lzu; CPU defaults before torch loads)

# isort: split

import argparse
import os.path as osp
import sys

from tqdm import tqdm

from lzu.core.saliency_io import save_saliency
from lzu.data.infos import InfoFileError, camera_boxes, load_infos
from lzu.data.saliency_boundary import LabelMapError, boundary_saliency, find_label_maps
from lzu.data.saliency_kde import coco_boxes, coco_image_size, kde_saliency
from lzu.infra.cli import run_main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--infos", help="mmdet3d v2 train info file (2-D boxes of cam_instances)")
    src.add_argument("--coco", help="COCO-format train json (e.g. Argoverse-HD's train.json)")
    src.add_argument("--seg-labels", metavar="DIR",
                     help="folder of training label maps (train ids), e.g. gtFine/train")
    p.add_argument("--out", default="saliency.pkl")
    p.add_argument("--bandwidth", type=float, default=64.0, help="b: variance = b x box size")
    p.add_argument("--amplitude", type=float, default=1.0, help="a: mass of each box's Gaussian")
    p.add_argument("--grid-shape", type=int, nargs=2, metavar=("GH", "GW"),
                   help="saliency grid (default: 27 48 for boxes, 32 32 for label maps)")
    p.add_argument("--label-suffix", default="_gtFine_labelTrainIds.png",
                   help="file name ending of the label maps under --seg-labels")
    p.add_argument("--ignore-index", type=int, default=255, help="label never on a boundary")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"),
                   help="image size the boxes live in (default: nuScenes' 1600 900 for --infos, "
                        "the json's most common image size for --coco)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    return p.parse_args(argv)


def from_label_maps(args):
    grid = tuple(args.grid_shape or (32, 32))
    try:
        paths = find_label_maps(args.seg_labels, args.label_suffix)
        saliency = boundary_saliency(paths, grid, args.ignore_index,
                                     progress=lambda it: tqdm(it, desc="label maps", unit="map"))
    except LabelMapError as err:
        sys.exit(f"make_saliency: {err}")
    save_saliency(saliency, args.out)
    print(f"class boundaries of {len(paths)} label maps -> {args.out} {list(saliency.shape)}; "
          f"peak row {int(saliency[0, 0].sum(dim=1).argmax())}")


def main(argv=None):
    args = parse_args(argv)
    if osp.exists(args.out) and not args.force:
        sys.exit(f"make_saliency: '{args.out}' exists and is kept (use --force to replace it)")
    if args.seg_labels:
        return from_label_maps(args)
    image_size = tuple(args.image_size or (1600, 900))
    if args.coco:
        try:
            boxes, n_images = coco_boxes(args.coco)
            image_size = tuple(args.image_size or coco_image_size(args.coco) or ())
        except (OSError, ValueError, KeyError) as err:
            sys.exit(f"make_saliency: cannot read COCO boxes from '{args.coco}': {err}")
        if not image_size:
            sys.exit(f"make_saliency: '{args.coco}' records no image width/height: give --image-size")
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
    saliency = kde_saliency(boxes, image_size, tuple(args.grid_shape or (27, 48)),
                            args.bandwidth, args.amplitude)
    save_saliency(saliency, args.out)
    rows = saliency[0, 0].sum(dim=1)
    print(f"{len(boxes)} boxes from {n_images} images of {image_size[0]}x{image_size[1]} -> {args.out} "
          f"{list(saliency.shape)}; peak row {int(rows.argmax())}")


if __name__ == "__main__":
    run_main(main, "make_saliency")
