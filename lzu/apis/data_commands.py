"""The data-preparation commands, as functions: ``tools/<name>.py`` runs ``<name>_main``.

* ``make_saliency_main``: saliency.pkl from a training set's 2-D boxes or label maps;
* ``create_data_main``: nuScenes info files with mmdet3d's converter;
* ``make_synthetic_nuscenes_main``: a tiny synthetic set in the nuScenes layout.

Each takes the command line ``argv`` and is documented by its tool's ``--help``; other
commands (the demos, the evidence benchmark) call them in process.
"""

import argparse
import os.path as osp
import sys
import time

from tqdm import tqdm

from lzu.core.saliency_io import save_saliency
from lzu.data.infos import InfoFileError, camera_boxes, load_infos
from lzu.data.saliency_boundary import LabelMapError, boundary_saliency, find_label_maps
from lzu.data.saliency_kde import coco_boxes, coco_image_size, kde_saliency
from lzu.data.synthetic import write_synthetic_nuscenes
from lzu.data.synthetic.spec import MIN_IMAGE_SIZE
from lzu.infra.errors import UserInputError
from lzu.infra.output_paths import check_output_file, check_output_folder

__all__ = ["create_data_main", "make_saliency_main", "make_synthetic_nuscenes_main"]


# ----------------------------------------------------------------------------- tools/make_saliency.py


def _make_saliency_args(argv=None):
    p = argparse.ArgumentParser(description="Build saliency.pkl (the paper's format) from the training set's 2-D boxes or label maps.")
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


def _saliency_from_label_maps(args):
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


def make_saliency_main(argv=None):
    args = _make_saliency_args(argv)
    check_output_file(args.out, "--out")
    if osp.exists(args.out) and not args.force:
        sys.exit(f"make_saliency: '{args.out}' exists and is kept (use --force to replace it)")
    if args.seg_labels:
        return _saliency_from_label_maps(args)
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


# ----------------------------------------------------------------------------- tools/create_data.py


def _create_data_args(argv=None):
    parser = argparse.ArgumentParser(description="Prepare nuScenes for monocular 3D detection with mmdet3d's converter.")
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


def create_data_main(argv=None):
    import lzu.openmmlab  # noqa: F401  (mmengine.dump through the atomic, link-refusing backend)
    from lzu.data.data_prep import create_mono3d_infos  # loads mmdet3d: only for this command

    args = _create_data_args(argv)
    check_output_folder(args.root_path, "--root-path")  # the info files are written there
    try:
        paths = create_mono3d_infos(args.root_path, args.version, args.info_prefix, args.max_sweeps)
    except FileNotFoundError as err:
        sys.exit(f"create_data: {err}")
    for path in paths:
        print(f"wrote {path}")


# ----------------------------------------------------------------------------- tools/make_synthetic_nuscenes.py


def _make_synthetic_nuscenes_args(argv=None):
    p = argparse.ArgumentParser(description='Write a tiny synthetic dataset in the nuScenes layout (version v1.0-mini).')
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


def make_synthetic_nuscenes_main(argv=None):
    args = _make_synthetic_nuscenes_args(argv)
    if args.image_size[0] < MIN_IMAGE_SIZE[0] or args.image_size[1] < MIN_IMAGE_SIZE[1]:
        raise UserInputError(f"--image-size {args.image_size[0]} {args.image_size[1]} is too small: "
                             f"the smallest that places every class in view is "
                             f"--image-size {MIN_IMAGE_SIZE[0]} {MIN_IMAGE_SIZE[1]}")
    check_output_folder(args.root, "--root")
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
