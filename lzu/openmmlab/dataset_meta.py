"""What a dataset config leaves to its registered class: class names and ``__init__`` defaults.

The data checks (``lzu.data.coco_json``, ``lzu.data.seg_folders``) read no registry; the
settings a config does not spell out are looked up here, in mmdet's and mmseg's dataset
registries, and handed to them by ``lzu.apis.data_check.check_data``.
"""

import importlib
import inspect

__all__ = ["dataset_classes", "dataset_default", "seg_folder_settings"]


def dataset_classes(dataset, registries=("mmdet", "mmseg")):
    """The class names a dataset config trains on: its ``metainfo.classes``, else its class's."""
    classes = (dataset.get("metainfo") or {}).get("classes")
    if classes:
        return tuple(classes)
    for scope in registries:
        cls = importlib.import_module(f"{scope}.registry").DATASETS.get(dataset.get("type", ""))
        if cls is not None:
            return tuple(getattr(cls, "METAINFO", {}).get("classes") or ()) or None
    return None


def dataset_default(dataset, key):
    """``dataset[key]``, else the default of the registered (mmseg) dataset class's ``__init__``."""
    if key in dataset:
        return dataset[key]
    from mmseg.registry import DATASETS

    cls = DATASETS.get(dataset.get("type", ""))
    param = inspect.signature(cls).parameters.get(key) if cls is not None else None
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def seg_folder_settings(dataset):
    """The keyword arguments of ``lzu.data.seg_folders.check_seg_folders`` for an mmseg folder
    dataset config: suffixes, classes, ``reduce_zero_label``, ignore label, and whether it is
    ``CityscapesDataset``."""
    from mmseg.registry import DATASETS

    cls = DATASETS.get(dataset.get("type", ""))
    classes = (dataset.get("metainfo") or {}).get("classes") or (
        getattr(cls, "METAINFO", {}).get("classes") if cls is not None else None)
    return dict(
        img_suffix=dataset_default(dataset, "img_suffix"),
        seg_map_suffix=dataset_default(dataset, "seg_map_suffix"),
        classes=classes,
        reduce_zero_label=dataset_default(dataset, "reduce_zero_label") if classes else None,
        ignore_index=dataset_default(dataset, "ignore_index"),
        cityscapes=getattr(cls, "__name__", "") == "CityscapesDataset",
    )
