"""Glue between the command-line tools and mmengine's Runner.

Everything the train/test tools share lives here: loading a config with
``--cfg-options``, pointing it at a data root, choosing the distributed
backend on machines without GPUs, and failing early with a clear message when
the data is not prepared.
"""

import os
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config, DictAction

from lzu.data.infos import load_infos
from lzu.infra.errors import UserInputError

__all__ = [
    "DataError",
    "DictAction",
    "OptionError",
    "check_cfg_options",
    "check_launcher",
    "parse_cfg_options",
    "constructor_accepts",
    "load_config",
    "set_data_root",
    "check_data",
    "missing_images",
    "init_cpu_distributed",
    "build_model",
]

PREPARE_HINT = (
    "prepare nuScenes with `python tools/create_data.py --root-path {root}` "
    "(see README, 'Running the paper's experiments')"
)


SEG_PREPARE_HINT = (
    "put Cityscapes there (leftImg8bit/, gtFine/ with *_gtFine_labelTrainIds.png from mmseg's "
    "tools/dataset_converters/cityscapes.py), or write the synthetic set: "
    "python tools/make_synthetic_cityscapes.py --root {root}"
)


class DataError(UserInputError, FileNotFoundError):
    """The data root or an info file is missing or unusable."""


class OptionError(UserInputError, KeyError):
    """A ``--cfg-options`` key that the config does not have, or a value of the wrong type."""

    def __str__(self):
        return self.args[0]


#: settings dicts whose entries are free-form (no class signature to check them against)
FREE_FORM = ("metainfo", "randomness", "env_cfg", "dist_cfg", "mp_cfg", "paramwise_cfg",
             "custom_keys")


def _kind(value):
    """Coarse type of a config value; ``None`` matches anything."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "sequence"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def constructor_accepts(type_name, arg):
    """Whether the class registered as ``type_name`` takes a keyword ``arg``.

    Looked up in mmdet3d's registries (which fall back to mmdet's and mmengine's),
    then mmseg's; a class taking ``**kwargs`` accepts anything. Unknown types
    accept nothing.
    """
    import inspect

    from mmdet3d import registry as mmdet3d_registry
    from mmseg import registry as mmseg_registry

    if not isinstance(type_name, str):
        return False
    for registry in (mmdet3d_registry, mmseg_registry):
        for name in dir(registry):
            reg = getattr(registry, name)
            if not hasattr(reg, "get") or not hasattr(reg, "module_dict"):
                continue
            try:
                cls = reg.get(type_name)
            except Exception:  # noqa: BLE001  (a registry that cannot resolve the scope)
                cls = None
            if cls is None:
                continue
            params = inspect.signature(cls).parameters
            return arg in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    return False


def parse_cfg_options(argv):
    """The ``--cfg-options k=v ...`` among command-line arguments ``argv``, parsed as the
    tools parse them (a dict, or None when there are none); other arguments are ignored."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    return parser.parse_known_args(list(argv))[0].cfg_options


def check_cfg_options(cfg, options):
    """Every ``--cfg-options`` key must exist in ``cfg`` with a value of the same kind.

    A new key is accepted only in a free-form settings dict (``FREE_FORM``: a dataset's
    ``metainfo``, ``randomness``, ...), or as an argument that the registered class of its
    dict (``type``) takes. Raises ``OptionError``
    naming the key, with the nearest existing keys.
    """
    import difflib

    tree = cfg.to_dict()
    for key, value in (options or {}).items():
        node, parts = tree, key.split(".")
        for depth, part in enumerate(parts):
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list | tuple):
                if not part.isdigit() or int(part) >= len(node):
                    raise OptionError(f"--cfg-options {key}: '{here}' is not an index of a "
                                      f"{len(node)}-element list")
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise OptionError(f"--cfg-options {key}: '{'.'.join(parts[:depth])}' is not a "
                                  f"dict, so it has no key '{part}'")
            if part not in node:
                last = depth == len(parts) - 1
                if last and (parts[depth - 1:depth] and parts[depth - 1] in FREE_FORM
                             or constructor_accepts(node.get("type"), part)):
                    break  # an entry of a free-form dict, or an argument the class takes
                near = difflib.get_close_matches(part, [str(k) for k in node], n=3)
                hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
                raise OptionError(f"--cfg-options {key}: the config has no key '{here}'{hint}")
            node = node[part]
        else:
            old, new = _kind(node), _kind(value)
            if old == "float" and new == "int":
                continue
            if old is not None and new is not None and old != new:
                raise OptionError(f"--cfg-options {key}={value!r}: expected {old} like the "
                                  f"config's {node!r}, got a {new}")


def _datasets(cfg):
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(key)
        if loader is None:
            continue
        dataset = loader["dataset"]
        # wrappers (RepeatDataset, CBGSDataset, ...) keep the real one inside
        while "dataset" in dataset:
            dataset = dataset["dataset"]
        yield key, dataset


def set_data_root(cfg, data_root):
    """Point every dataloader and evaluator of ``cfg`` at ``data_root``.

    An evaluator's ``ann_file`` under an old data root keeps its path below it; a
    ``data_root`` key is set only on evaluators that have one (NuScenesMetric, not
    CocoMetric).
    """
    root = data_root.rstrip("/") + "/"
    old_roots = {cfg.get("data_root")} | {d.get("data_root") for _, d in _datasets(cfg)}
    old_roots = sorted((r for r in old_roots if r), key=len, reverse=True)
    if "data_root" in cfg:
        cfg.data_root = root
    for _, dataset in _datasets(cfg):
        dataset["data_root"] = root
    for key in ("val_evaluator", "test_evaluator"):
        evaluator = cfg.get(key)
        if evaluator is None:
            continue
        for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
            if "data_root" in metric:
                metric["data_root"] = root
            ann = metric.get("ann_file")
            if ann:
                below = next((ann[len(r):] for r in old_roots if ann.startswith(r)), None)
                metric["ann_file"] = root + (below if below is not None else osp.basename(ann))
    return cfg


#: environment variables each ``--launcher`` reads, and what sets them
LAUNCHER_ENV = {
    "pytorch": (("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"),
                "start the tool with `torchrun --nproc_per_node=N tools/train.py ...`"),
    "slurm": (("SLURM_PROCID", "SLURM_NTASKS", "SLURM_NODELIST"),
              "start the tool with `srun` inside a slurm allocation"),
    "mpi": (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
            "start the tool with `mpirun`"),
}


def check_launcher(launcher):
    """``--launcher pytorch/slurm/mpi`` needs the environment its launcher sets; else one
    ``OptionError`` naming the missing variables (instead of a hang or a KeyError later)."""
    if launcher in (None, "none"):
        return
    if launcher not in LAUNCHER_ENV:
        raise OptionError(f"--launcher {launcher}: unknown; use none, {', '.join(LAUNCHER_ENV)}")
    names, how = LAUNCHER_ENV[launcher]
    missing = [n for n in names if n not in os.environ]
    if missing:
        raise OptionError(
            f"--launcher {launcher}, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: this process was not started by "
            f"its launcher; {how}, or drop --launcher to run in one process")


def load_config(path, cfg_options=None, data_root=None, work_dir=None, launcher="none"):
    """Load ``path``, apply ``--cfg-options``, data root, work dir and launcher."""
    check_launcher(launcher)
    if not osp.isfile(path):
        raise FileNotFoundError(f"config file '{path}' not found")
    cfg = Config.fromfile(path)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if data_root:
        set_data_root(cfg, data_root)
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join("work_dirs", osp.splitext(osp.basename(path))[0])
    cfg.launcher = launcher
    if launcher != "none" and not torch.cuda.is_available():
        # Distributed on CPU: NCCL needs GPUs, gloo is torch.distributed's CPU
        # backend; and DDP must get device_ids=None for a CPU module (mmengine
        # passes [LOCAL_RANK] unless the wrapper config says otherwise).
        cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"
        wrapper = cfg.get("model_wrapper_cfg") or {}
        wrapper.setdefault("type", "MMDistributedDataParallel")
        wrapper.setdefault("broadcast_buffers", False)
        wrapper.setdefault("find_unused_parameters", cfg.get("find_unused_parameters", False))
        wrapper["device_ids"] = None
        cfg.model_wrapper_cfg = wrapper
    return cfg


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


def build_model(cfg, checkpoint=None):
    """Build ``cfg.model`` without downloading pretrained weights; load ``checkpoint`` strictly.

    ``cfg`` is not modified (mmdet's ResNet pops keys from its config while building).
    """
    import copy

    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import lzu.openmmlab  # noqa: F401  (registers lzu's modules, checkpoint allowlist)

    init_default_scope(cfg.get("default_scope", "mmdet3d"))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    if "pretrained" in model_cfg:  # mmseg's way of naming backbone weights
        model_cfg.pretrained = None
    model = MODELS.build(model_cfg)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location="cpu", strict=True)
    return model


def init_cpu_distributed(launcher):
    """Start torch.distributed with gloo when launched by torchrun on a machine without GPUs.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally; it
    skips its own initialisation when a process group already exists.
    """
    import torch.distributed as dist

    if launcher == "pytorch" and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend="gloo")


def _dataset_classes(dataset, registries=("mmdet", "mmseg")):
    """The class names a dataset config trains on: its ``metainfo.classes``, else its class's."""
    classes = (dataset.get("metainfo") or {}).get("classes")
    if classes:
        return tuple(classes)
    import importlib

    for scope in registries:
        cls = importlib.import_module(f"{scope}.registry").DATASETS.get(dataset.get("type", ""))
        if cls is not None:
            return tuple(getattr(cls, "METAINFO", {}).get("classes") or ()) or None
    return None


def _check_coco_split(ann, dataset, limit=5):
    """Check a COCO(-style Argoverse-HD) json (``lzu.data.coco_json.check_coco``), find the
    images it names that are missing, and compare its ``width``/``height`` with the image
    headers of one image per sequence folder. Returns ``missing_images``'s triple."""
    from PIL import Image

    from lzu.data.coco_json import check_coco, image_relpath, read_coco

    data = read_coco(ann)
    check_coco(data, ann, _dataset_classes(dataset))
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


def _dataset_default(dataset, key):
    """``dataset[key]``, else the default of the registered dataset class's ``__init__``."""
    import inspect

    if key in dataset:
        return dataset[key]
    from mmseg.registry import DATASETS

    cls = DATASETS.get(dataset.get("type", ""))
    param = inspect.signature(cls).parameters.get(key) if cls is not None else None
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def _seg_pairs(dataset, key):
    """For an mmseg folder dataset (no annotation file): ``(image, label map)`` path pairs.

    Images are found as mmseg finds them (by ``img_suffix`` under ``data_prefix.img_path``);
    raises ``DataError`` when that folder is missing or holds no image.
    """
    root = dataset.get("data_root", "")
    prefix = dataset.get("data_prefix") or {}
    img_dir = osp.join(root, prefix.get("img_path", ""))
    img_suffix = _dataset_default(dataset, "img_suffix") or ".jpg"
    if not osp.isdir(img_dir):
        raise DataError(f"image folder '{img_dir}' ({key}) does not exist; check data_root "
                        f"'{root}' and data_prefix.img_path")
    images = sorted(osp.relpath(osp.join(d, n), img_dir) for d, _, names in os.walk(img_dir)
                    for n in names if n.endswith(img_suffix))
    if not images:
        raise DataError(f"image folder '{img_dir}' ({key}) holds no '*{img_suffix}' image")
    seg_dir = osp.join(root, prefix.get("seg_map_path", ""))
    seg_suffix = _dataset_default(dataset, "seg_map_suffix") or ".png"
    return [(osp.join(img_dir, name), osp.join(seg_dir, name[: -len(img_suffix)] + seg_suffix))
            for name in images]


def _image_size(path, key):
    """``(width, height)`` of a complete image file (header only), or ``DataError``."""
    from PIL import Image

    from lzu.data.image_check import check_image_file

    try:
        check_image_file(path)
        with Image.open(path) as im:
            return im.size
    except UserInputError as err:
        raise DataError(f"{err} ({key})") from None
    except (OSError, ValueError) as err:
        raise DataError(f"image '{path}' ({key}) cannot be read: {err}") from None


def _check_seg_folders(dataset, key, limit=5):
    """Every image is complete and has its label map; every label map (all of them) holds
    only class ids and the ignore label and has its image's size; all images share one size.

    Each label map is decoded once and compared with the class range (about 7 ms per
    2048x1024 frame on one core, image checks included); images are checked from their header and last
    bytes only (0.3 ms).
    The value check catches the classic mix-up of Cityscapes' raw ``*_labelIds.png`` (ids up
    to 33) with the ``*_labelTrainIds.png`` maps the dataset expects, before a loss fails on
    a bad target.
    """
    from mmseg.registry import DATASETS

    from lzu.data.image_check import check_image_file
    from lzu.data.saliency_boundary import read_label_map

    pairs = _seg_pairs(dataset, key)
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
    cls = DATASETS.get(dataset.get("type", ""))
    classes = (dataset.get("metainfo") or {}).get("classes") or (
        getattr(cls, "METAINFO", {}).get("classes") if cls is not None else None)
    n = len(classes) + (1 if _dataset_default(dataset, "reduce_zero_label") else 0) if classes else None
    ignore = int(_dataset_default(dataset, "ignore_index") or 255)
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
                    if getattr(cls, "__name__", "") == "CityscapesDataset"
                    else "check seg_map_suffix and how the dataset encodes its labels")
            raise DataError(
                f"label map '{path}' ({key}) holds value(s) {', '.join(map(str, bad[:5]))}, "
                f"neither a class id (0-{n - 1}) nor the ignore label {ignore}; {hint}"
            )


def _check_intrinsics(ann, data_list):
    """Every camera of every info has a usable ``cam2img`` (cheap: no image is read)."""
    from lzu.openmmlab.loading import check_cam2img

    for info in data_list:
        for cam, img in info.get("images", {}).items():
            if "img_path" in img:
                check_cam2img(img.get("cam2img"), f"'{ann}', sample {info.get('token')}, {cam}")


def _check_version(dataset, root):
    """The devkit scores against the config's nuScenes version: its tables must be there."""
    version = (dataset.get("metainfo") or {}).get("version", "v1.0-trainval")
    if not osp.isdir(osp.join(root, version)):
        found = sorted(d for d in os.listdir(root) if d.startswith("v1.0-")) if osp.isdir(root) else []
        raise DataError(
            f"the config evaluates against nuScenes {version}, but data root '{root}' has no "
            f"'{version}/' tables (found: {', '.join(found) or 'none'}); for another version set "
            "--cfg-options on the dataloaders' dataset.metainfo.version"
        )


def check_data(cfg, splits=("train", "val")):
    """Fail early, naming the path, if the data root, an info file or images are missing.

    Info files must be mmdet3d v2 files (``lzu.data.infos.load_infos`` explains v1
    and corrupt files) or COCO json; every image they reference must exist. mmseg
    folder datasets (no info file) need every image's label map, holding class ids.
    """
    checked = set()
    for key, dataset in _datasets(cfg):
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
                _check_seg_folders(dataset, key)
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
            _check_intrinsics(ann, data_list)
            if split == "val":
                _check_version(dataset, root)
            n_missing, examples, total = missing_images(dataset, data_list)
        if n_missing:
            raise DataError(
                f"{n_missing} of {total} images referenced by '{ann}' are missing, e.g.\n  "
                + "\n  ".join(examples)
                + f"\ncheck data_root '{root}' and data_prefix, or re-download the images"
            )
    return cfg
