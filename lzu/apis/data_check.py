"""Fail early, naming the path, when a config's data is not prepared.

``check_data`` reads a loaded config's dataloaders and runs each task's data check,
which lives next to that task's dataset code:

* nuScenes info files (mono-3D): ``lzu.data.infos`` (``load_infos``, ``check_intrinsics``,
  ``check_nuscenes_version``, ``missing_images``);
* COCO-style json (2-D detection, Argoverse-HD): ``lzu.data.coco_json`` (``check_coco``,
  ``check_coco_images``), with the dataset's classes from ``lzu.openmmlab.dataset_meta``;
* mmseg folder datasets (Cityscapes layout): ``lzu.data.seg_folders``, with the settings the
  config leaves to its dataset class from ``lzu.openmmlab.dataset_meta``.
"""

import os.path as osp

from lzu.apis.runtime import config_datasets
from lzu.data.coco_json import check_coco, check_coco_images, read_coco
from lzu.data.infos import check_intrinsics, check_nuscenes_version, load_infos, missing_images
from lzu.data.seg_folders import check_seg_folders
from lzu.infra.errors import DataError

__all__ = ["DataError", "check_data"]

PREPARE_HINT = (
    "prepare nuScenes with `python tools/create_data.py --root-path {root}` "
    "(see README, 'Running the paper's experiments')"
)


SEG_PREPARE_HINT = (
    "put Cityscapes there (leftImg8bit/, gtFine/ with *_gtFine_labelTrainIds.png from mmseg's "
    "tools/dataset_converters/cityscapes.py), or write the synthetic set: "
    "python tools/make_synthetic_cityscapes.py --root {root}"
)


def _check_coco_split(ann, dataset):
    """Check a COCO(-style Argoverse-HD) json against the dataset's classes, then its images.
    Returns ``missing_images``'s triple."""
    # imported here, as each check needs it: importing lzu.openmmlab registers lzu's modules,
    # which must not change how the config was loaded before the check
    from lzu.openmmlab.dataset_meta import dataset_classes

    data = read_coco(ann)
    check_coco(data, ann, dataset_classes(dataset))
    return check_coco_images(ann, data, dataset)


def _check_seg_split(dataset, key):
    """Check an mmseg folder dataset with the settings its config leaves to its class."""
    from lzu.openmmlab.dataset_meta import seg_folder_settings  # (see _check_coco_split)

    check_seg_folders(dataset, key, **seg_folder_settings(dataset))


def check_data(cfg, splits=("train", "val")):
    """Fail early, naming the path, if the data root, an info file or images are missing.

    Info files must be mmdet3d v2 files (``lzu.data.infos.load_infos`` explains v1
    and corrupt files) or COCO json; every image they reference must exist. mmseg
    folder datasets (no info file) need every image's label map, holding class ids.
    """
    checked = set()
    for key, dataset in config_datasets(cfg):
        split = "train" if key.startswith("train") else "val"
        if split not in splits:
            continue
        root = dataset.get("data_root", "")
        folder_dataset = not dataset.get("ann_file") and "img_path" in (dataset.get("data_prefix") or {})
        if not osp.isdir(root):
            hint = SEG_PREPARE_HINT if folder_dataset else PREPARE_HINT
            raise DataError(f"data root '{root}' does not exist; " + hint.format(root=root))
        if folder_dataset:  # an mmseg folder dataset (Cityscapes): found by suffix
            folders = (root, repr(sorted((dataset.get("data_prefix") or {}).items())))
            if folders not in checked:  # val and test often share a split: check it once
                checked.add(folders)
                _check_seg_split(dataset, key)
            continue
        ann = osp.join(root, dataset["ann_file"])
        if not osp.isfile(ann):
            raise DataError(
                f"info file '{ann}' ({key}) not found; " + PREPARE_HINT.format(root=root)
            )
        if ann in checked:
            continue
        checked.add(ann)
        if ann.endswith(".json"):
            n_missing, examples, total = _check_coco_split(ann, dataset)
        else:
            data_list = load_infos(ann)
            check_intrinsics(ann, data_list)
            if split == "val":
                check_nuscenes_version(dataset, root)
            n_missing, examples, total = missing_images(dataset, data_list)
        if n_missing:
            raise DataError(
                f"{n_missing} of {total} images referenced by '{ann}' are missing, e.g.\n  "
                + "\n  ".join(examples)
                + f"\ncheck data_root '{root}' and data_prefix, or re-download the images"
            )
    return cfg
