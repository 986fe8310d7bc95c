"""Read and check a COCO-style (Argoverse-HD) 2-D annotation file, naming what is wrong.

mmdet's ``CocoDataset`` trusts its json: a missing key ends in a ``KeyError`` deep
in its loader, an empty file in "need at least one array to concatenate", and it
drops, without a word, boxes it cannot use, annotations of unknown categories and
all but one of the images that share an id. ``check_coco`` is the one place that
checks a json before anything trains or scores on it (the data check of
``tools/train.py``/``tools/test.py`` and ``ArgoverseHDDataset`` both call it;
that data check then runs ``check_coco_images`` over the images it names):

refused, with one message naming the file and the entry
    no ``images`` / ``annotations`` / ``categories`` (or empty ones); an image
    without a positive whole ``width``/``height`` or ``id``, without ``file_name``
    and without ``name`` + ``sid``; a ``sid`` outside ``seq_dirs``; an image path
    that is absolute or leaves the image folder (``..``); duplicate image,
    annotation or category ids; an annotation whose ``image_id`` or
    ``category_id`` is unknown, whose ``bbox`` is not four finite numbers (strings
    included), has a negative side or lies wholly outside its image, or whose
    ``area`` is missing or not a number;
kept, and said (``notes``; the dataset logs them)
    boxes thinner than 1 px (mmdet ignores them, as it always has), and
    annotations of categories outside the dataset's classes (a dataset may train
    on a subset of a json's classes, as mmdet allows).
"""

import json
import math
import numbers
import os.path as osp

from lzu.infra.errors import DataError, UserInputError

__all__ = ["AnnotationFileError", "read_coco", "check_coco", "check_coco_images", "image_relpath"]


class AnnotationFileError(UserInputError, ValueError):
    """A COCO-style annotation file is unreadable or malformed."""


def read_coco(path):
    """The parsed json of ``path``; ``AnnotationFileError`` if missing or not json."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise AnnotationFileError(f"annotation file '{path}' not found") from None
    except (OSError, ValueError) as err:
        raise AnnotationFileError(f"annotation file '{path}' is not readable json: {err}") from None


def _whole(value, minimum):
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and value >= minimum)


def _number(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def image_relpath(img, seq_dirs):
    """An image's path below the image folder: ``file_name``, else ``seq_dirs[sid]/name``."""
    return img.get("file_name") or osp.join(seq_dirs[img["sid"]], img["name"])


def _list(data, key, path, what):
    if key not in data:
        raise AnnotationFileError(f"annotation file '{path}' has no '{key}' list ({what})")
    value = data[key]
    if not isinstance(value, list) or not value:
        raise AnnotationFileError(
            f"annotation file '{path}': '{key}' is {'empty' if value == [] else 'not a list'}; "
            f"it must list the {what}")
    return value


def _check_images(images, seq_dirs, path):
    """Image ids -> image dict; every image's id, size and path are valid."""
    by_id = {}
    for i, img in enumerate(images):
        where = f"annotation file '{path}', images[{i}]"
        if not isinstance(img, dict):
            raise AnnotationFileError(f"{where} is not an object")
        if not _whole(img.get("id"), 0):
            raise AnnotationFileError(f"{where} has no whole-number 'id' (got {img.get('id')!r})")
        where = f"annotation file '{path}', image id {img['id']}"
        if img["id"] in by_id:
            raise AnnotationFileError(f"{where} is used by two images (images must have unique "
                                      "ids; mmdet would keep only one)")
        for key in ("width", "height"):
            if not _whole(img.get(key), 1):
                raise AnnotationFileError(
                    f"{where} has no positive whole-number '{key}' (got {img.get(key)!r})")
        if not isinstance(img.get("file_name"), str) or not img["file_name"]:
            if not isinstance(img.get("name"), str) or "sid" not in img:
                raise AnnotationFileError(
                    f"{where} names no file: it needs 'file_name', or 'name' and 'sid' "
                    "(its sequence, an index into 'seq_dirs')")
            if not _whole(img["sid"], 0) or img["sid"] >= len(seq_dirs):
                raise AnnotationFileError(
                    f"{where}: sid {img['sid']!r} is not an index into 'seq_dirs' "
                    f"({len(seq_dirs)} sequences)")
        rel = image_relpath(img, seq_dirs)
        if osp.isabs(rel) or osp.normpath(rel).split(osp.sep)[0] == "..":
            raise AnnotationFileError(
                f"{where}: image path '{rel}' leaves the image folder; paths must be "
                "relative and stay below it")
        by_id[img["id"]] = img
    return by_id


def _check_box(ann, img, where):
    box = ann.get("bbox")
    if not (isinstance(box, list | tuple) and len(box) == 4 and all(_number(v) for v in box)):
        raise AnnotationFileError(f"{where}: bbox {box!r} is not four finite numbers "
                                  "[left, top, width, height]")
    x, y, w, h = box
    if w < 0 or h < 0:
        raise AnnotationFileError(f"{where}: bbox {box} has a negative width or height")
    if x >= img["width"] or y >= img["height"] or x + w <= 0 or y + h <= 0:
        raise AnnotationFileError(
            f"{where}: bbox {box} lies wholly outside its image ({img['width']}x{img['height']}); "
            "do the image's width/height or the box coordinates follow another convention?")
    if not _number(ann.get("area")):
        raise AnnotationFileError(f"{where}: 'area' {ann.get('area')!r} is missing or not a number")
    return w < 1 or h < 1 or ann["area"] <= 0


def check_coco(data, path, classes=None):
    """Check a parsed COCO json ``data`` read from ``path`` (see the module doc).

    Args:
        classes: the class names the dataset trains on; annotations of the json's other
            categories are counted in a note (None: all of the json's categories).

    Returns:
        Notes (strings) on what a dataset will ignore; raises ``AnnotationFileError``
        on anything malformed.
    """
    if not isinstance(data, dict):
        raise AnnotationFileError(f"annotation file '{path}' is not a COCO json object")
    seq_dirs = data.get("seq_dirs", [])
    if not isinstance(seq_dirs, list) or not all(isinstance(s, str) for s in seq_dirs):
        raise AnnotationFileError(f"annotation file '{path}': 'seq_dirs' is not a list of folders")
    images = _check_images(_list(data, "images", path, "images"), seq_dirs, path)
    categories = {}
    for cat in _list(data, "categories", path, "categories (id, name)"):
        if not isinstance(cat, dict) or not _whole(cat.get("id"), 0) or not isinstance(
                cat.get("name"), str):
            raise AnnotationFileError(f"annotation file '{path}': category {cat!r} needs a "
                                      "whole-number 'id' and a 'name'")
        if cat["id"] in categories:
            raise AnnotationFileError(f"annotation file '{path}': category id {cat['id']} is "
                                      "used twice")
        categories[cat["id"]] = cat["name"]
    if classes is not None and not set(categories.values()) & set(classes):
        raise AnnotationFileError(
            f"annotation file '{path}': none of its categories ({', '.join(categories.values())}) "
            f"is a class of the dataset ({', '.join(classes)})")
    ann_ids, tiny, outside = set(), 0, {}
    for i, ann in enumerate(_list(data, "annotations", path, "boxes")):
        where = f"annotation file '{path}', annotations[{i}]"
        if not isinstance(ann, dict):
            raise AnnotationFileError(f"{where} is not an object")
        if not _whole(ann.get("id"), 0):
            raise AnnotationFileError(f"{where} has no whole-number 'id' (got {ann.get('id')!r})")
        if ann["id"] in ann_ids:
            raise AnnotationFileError(f"{where}: annotation id {ann['id']} is used twice")
        ann_ids.add(ann["id"])
        where = f"annotation file '{path}', annotation id {ann['id']}"
        if ann.get("image_id") not in images:
            raise AnnotationFileError(f"{where}: image_id {ann.get('image_id')!r} is no image's id")
        if ann.get("category_id") not in categories:
            raise AnnotationFileError(
                f"{where}: category_id {ann.get('category_id')!r} is not in 'categories' "
                f"(ids {sorted(categories)})")
        tiny += _check_box(ann, images[ann["image_id"]], where)
        name = categories[ann["category_id"]]
        if classes is not None and name not in classes:
            outside[name] = outside.get(name, 0) + 1
    notes = []
    if tiny:
        notes.append(f"'{path}': {tiny} boxes thinner than 1 px or with no area are ignored "
                     "(as mmdet's CocoDataset does)")
    if outside:
        notes.append(f"'{path}': the annotations of categories outside the dataset's classes are "
                     "ignored: " + ", ".join(f"{n} ({c})" for n, c in sorted(outside.items())))
    return notes


def check_coco_images(ann, data, dataset, limit=5):
    """Find the images a checked COCO(-style Argoverse-HD) json ``data`` (read from ``ann``)
    names that are missing below ``dataset``'s (a dataset config's) image folder, and compare
    its ``width``/``height`` with the image headers of one image per sequence folder.
    Returns ``(count missing, first few, total)``."""
    from PIL import Image

    prefix = osp.join(dataset.get("data_root", ""), (dataset.get("data_prefix") or {}).get("img", ""))
    seq_dirs = data.get("seq_dirs", [])
    missing, sampled = [], set()
    for img in data["images"]:
        path = osp.join(prefix, image_relpath(img, seq_dirs))
        if not osp.isfile(path):
            missing.append(path)
            continue
        folder = osp.dirname(path)
        if folder in sampled:
            continue
        sampled.add(folder)
        try:
            with Image.open(path) as im:
                size = im.size
        except (OSError, ValueError) as err:
            raise DataError(f"image '{path}' (from '{ann}') cannot be read: {err}") from None
        if size != (img["width"], img["height"]):
            raise DataError(
                f"'{ann}' says image '{path}' is {img['width']}x{img['height']}, but it is "
                f"{size[0]}x{size[1]}: boxes would land in the wrong place; fix the json's "
                "width/height")
    return len(missing), missing[:limit], len(data["images"])
