"""Check an mmseg folder dataset (Cityscapes layout: no annotation file) before training on it.

Images are found as mmseg finds them (by suffix below ``data_prefix.img_path``). Every
image must be complete and have its label map; every label map (all of them) must hold
only class ids and the ignore label and have its image's size; all images share one size.
Failures raise ``DataError`` naming the file and the split's config key. The settings a
dataset config may leave to its registered class (suffixes, classes, ignore label) are
resolved by ``lzu.openmmlab.dataset_meta.seg_folder_settings``; this module imports no
OpenMMLab package.
"""

import os
import os.path as osp

import numpy as np

from lzu.data.image_check import check_image_file
from lzu.data.saliency_boundary import read_label_map
from lzu.infra.errors import DataError, UserInputError

__all__ = ["check_seg_folders", "seg_pairs"]


def seg_pairs(dataset, key, img_suffix, seg_map_suffix):
    """``(image, label map)`` path pairs of the folder dataset config ``dataset``.

    ``img_suffix``/``seg_map_suffix`` are the dataset's (``None``: ``.jpg``/``.png``); raises
    ``DataError`` when the image folder is missing or holds no image.
    """
    root = dataset.get("data_root", "")
    prefix = dataset.get("data_prefix") or {}
    img_dir = osp.join(root, prefix.get("img_path", ""))
    img_suffix = img_suffix or ".jpg"
    if not osp.isdir(img_dir):
        raise DataError(f"image folder '{img_dir}' ({key}) does not exist; check data_root "
                        f"'{root}' and data_prefix.img_path")
    images = sorted(osp.relpath(osp.join(d, n), img_dir) for d, _, names in os.walk(img_dir)
                    for n in names if n.endswith(img_suffix))
    if not images:
        raise DataError(f"image folder '{img_dir}' ({key}) holds no '*{img_suffix}' image")
    seg_dir = osp.join(root, prefix.get("seg_map_path", ""))
    seg_suffix = seg_map_suffix or ".png"
    return [(osp.join(img_dir, name), osp.join(seg_dir, name[: -len(img_suffix)] + seg_suffix))
            for name in images]


def _image_size(path, key):
    """``(width, height)`` of a complete image file (header only), or ``DataError``."""
    from PIL import Image

    try:
        check_image_file(path)
        with Image.open(path) as im:
            return im.size
    except UserInputError as err:
        raise DataError(f"{err} ({key})") from None
    except (OSError, ValueError) as err:
        raise DataError(f"image '{path}' ({key}) cannot be read: {err}") from None


def check_seg_folders(dataset, key, img_suffix=None, seg_map_suffix=None, classes=None,
                      reduce_zero_label=None, ignore_index=None, cityscapes=False, limit=5):
    """Check the folder dataset config ``dataset`` (the split ``key``), as the module says.

    ``classes`` are the class names (``None``: label values are not checked), plus one id
    when ``reduce_zero_label``; ``ignore_index`` is the ignore label (``None``: 255);
    ``cityscapes`` says the dataset is Cityscapes, whose raw ``*_labelIds.png`` maps are the
    classic mix-up the error then names.

    Each label map is decoded once and compared with the class range (about 7 ms per
    2048x1024 frame on one core, image checks included); images are checked from their header
    and last bytes only (0.3 ms).
    The value check catches the classic mix-up of Cityscapes' raw ``*_labelIds.png`` (ids up
    to 33) with the ``*_labelTrainIds.png`` maps the dataset expects, before a loss fails on
    a bad target.
    """
    pairs = seg_pairs(dataset, key, img_suffix, seg_map_suffix)
    first = None
    for image, _ in pairs:
        size = _image_size(image, key)
        if first is None:
            first = (image, size)
        elif size != first[1]:
            raise DataError(
                f"images of different sizes ({key}): '{first[0]}' is {first[1][0]}x{first[1][1]}, "
                f"'{image}' is {size[0]}x{size[1]}; the configs' pipelines and the fixed "
                "saliency assume one image size per split: resize the images to one size")
    if "seg_map_path" not in (dataset.get("data_prefix") or {}):
        return
    missing = [p for _, p in pairs if not osp.isfile(p)]
    if missing:
        raise DataError(
            f"{len(missing)} of {len(pairs)} label maps for the images under "
            f"'{dataset.get('data_root', '')}' ({key}) are missing, e.g.\n  "
            + "\n  ".join(missing[:limit]) + "\ncheck data_prefix.seg_map_path and seg_map_suffix"
        )
    n = len(classes) + (1 if reduce_zero_label else 0) if classes else None
    ignore = int(ignore_index or 255)
    for image, path in pairs:
        try:
            check_image_file(path)
            label = read_label_map(path)
        except UserInputError as err:
            raise DataError(f"{err} ({key})") from None
        if (label.shape[1], label.shape[0]) != first[1]:
            raise DataError(
                f"label map '{path}' ({key}) is {label.shape[1]}x{label.shape[0]}, its image "
                f"'{image}' is {first[1][0]}x{first[1][1]}: a label map must have its image's size")
        if n is None:
            continue
        outside = ((label >= n) | (label < 0)) & (label != ignore)
        if outside.any():
            bad = [int(v) for v in np.unique(label[outside])]
            hint = ("Cityscapes needs the *_gtFine_labelTrainIds.png maps made by mmseg's "
                    "tools/dataset_converters/cityscapes.py, not the raw *_labelIds.png"
                    if cityscapes
                    else "check seg_map_suffix and how the dataset encodes its labels")
            raise DataError(
                f"label map '{path}' ({key}) holds value(s) {', '.join(map(str, bad[:5]))}, "
                f"neither a class id (0-{n - 1}) nor the ignore label {ignore}; {hint}"
            )
