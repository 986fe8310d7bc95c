"""Read mmdet3d v2 nuScenes info files, with errors that say what is wrong, and check them.

Info files are pickles by design (mmdet3d writes them). They hold plain data only,
so they are read by ``lzu.infra.safe_pickle.load_data_pickle``, which refuses any
other global (a planted file cannot run code) naming the file and the global.
The nuScenes data check (``check_intrinsics``, ``check_nuscenes_version``,
``missing_images``; run by ``lzu.apis.data_check.check_data``) reads no image.
"""

import os
import os.path as osp

import numpy as np

from lzu.data.image_check import check_cam2img
from lzu.infra.errors import DataError, UserInputError
from lzu.infra.safe_pickle import CorruptPickleError, UnsafePickleError, load_data_pickle

__all__ = ["InfoFileError", "load_infos", "camera_boxes", "record_image_sizes",
           "check_intrinsics", "check_nuscenes_version", "missing_images"]

CAMERAS = (
    "CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT"
)


class InfoFileError(UserInputError, ValueError):
    """An info file is missing, corrupt or in the wrong format."""


def load_infos(path):
    """Return the ``data_list`` of a v2 info file; explain v1 files and corrupt ones."""
    if not osp.isfile(path):
        raise InfoFileError(
            f"info file '{path}' not found; run `python tools/create_data.py --root-path "
            f"{osp.dirname(path) or '.'}`"
        )
    try:
        data = load_data_pickle(path)
    except UnsafePickleError as err:
        raise InfoFileError(str(err)) from None
    except CorruptPickleError as err:
        raise InfoFileError(f"info file '{path}' is corrupt or not a pickle: {err.reason}") from None
    if isinstance(data, dict) and "infos" in data and "metadata" in data:
        raise InfoFileError(
            f"info file '{path}' is in mmdet3d's v1 format (keys 'infos', 'metadata'); "
            "mmdet3d 1.4 needs v2 infos: rerun `python tools/create_data.py`"
        )
    if not (isinstance(data, dict) and "data_list" in data and "metainfo" in data):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise InfoFileError(
            f"info file '{path}' is not an mmdet3d v2 info file: expected keys "
            f"'data_list' and 'metainfo', found {keys}"
        )
    _check_structure(path, data["data_list"])
    return data["data_list"]


def _check_structure(path, data_list):
    """The containers lzu reads from v2 infos have the types mmdet3d writes (one line if not)."""

    def refuse(key, expected, value):
        raise InfoFileError(f"info file '{path}': {key} must be {expected}, found "
                            f"{type(value).__name__}; rerun `python tools/create_data.py`")

    if not isinstance(data_list, list):
        refuse("'data_list'", "a list", data_list)
    for i, info in enumerate(data_list):
        if not isinstance(info, dict):
            refuse(f"data_list[{i}]", "a dict", info)
        for key in ("images", "cam_instances"):
            if not isinstance(info.get(key, {}), dict):
                refuse(f"data_list[{i}]['{key}']", "a dict", info[key])
        for cam, img in info.get("images", {}).items():
            if not isinstance(img, dict):
                refuse(f"data_list[{i}]['images'][{cam!r}]", "a dict", img)
        for cam, instances in info.get("cam_instances", {}).items():
            if not isinstance(instances, list):
                refuse(f"data_list[{i}]['cam_instances'][{cam!r}]", "a list", instances)
            for j, inst in enumerate(instances):
                bbox = inst.get("bbox") if isinstance(inst, dict) else None
                if not (isinstance(bbox, list | tuple | np.ndarray) and len(bbox) == 4):
                    refuse(f"data_list[{i}]['cam_instances'][{cam!r}][{j}]",
                           "a dict with a 4-number 'bbox'", inst if bbox is None else bbox)


def camera_boxes(data_list, cameras=CAMERAS):
    """All 2-D boxes ``(N, 4)`` as ``(left, top, width, height)`` from ``cam_instances``."""
    boxes = []
    for info in data_list:
        for cam in cameras:
            for inst in info.get("cam_instances", {}).get(cam, []):
                x1, y1, x2, y2 = inst["bbox"]
                boxes.append((x1, y1, x2 - x1, y2 - y1))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def record_image_sizes(data_list, size_of):
    """Write each camera image's ``width`` and ``height`` into its info, in place.

    ``size_of(camera, image_info)`` returns ``(width, height)`` for an entry
    ``images[camera]`` of an info that has an ``img_path``. With the size in the infos, datasets
    (``PaperEpochNuScenesDataset``) need not open every image at start-up.
    Returns the number of images given a size.
    """
    count = 0
    for info in data_list:
        for cam, img in info.get("images", {}).items():
            if "img_path" in img:
                img["width"], img["height"] = (int(v) for v in size_of(cam, img))
                count += 1
    return count


def check_intrinsics(ann, data_list):
    """Every camera of every info has a usable ``cam2img`` (cheap: no image is read)."""
    for info in data_list:
        for cam, img in info.get("images", {}).items():
            if "img_path" in img:
                check_cam2img(img.get("cam2img"), f"'{ann}', sample {info.get('token')}, {cam}")


def check_nuscenes_version(dataset, root):
    """The devkit scores against the config's nuScenes version: its tables must be there."""
    version = (dataset.get("metainfo") or {}).get("version", "v1.0-trainval")
    if not osp.isdir(osp.join(root, version)):
        found = sorted(d for d in os.listdir(root) if d.startswith("v1.0-")) if osp.isdir(root) else []
        raise DataError(
            f"the config evaluates against nuScenes {version}, but data root '{root}' has no "
            f"'{version}/' tables (found: {', '.join(found) or 'none'}); for another version set "
            "--cfg-options on the dataloaders' dataset.metainfo.version"
        )


def missing_images(dataset_cfg, data_list, limit=5):
    """Image files the infos reference that are not on disk: ``(count, first few, total)``."""
    root = dataset_cfg.get("data_root", "")
    prefixes = dataset_cfg.get("data_prefix", {})
    missing, total = [], 0
    for info in data_list:
        for cam, img in info.get("images", {}).items():
            if "img_path" not in img or cam not in prefixes:
                continue
            total += 1
            path = osp.join(root, prefixes[cam], img["img_path"])
            if not osp.isfile(path):
                missing.append(path)
    return len(missing), missing[:limit], total
