"""nuScenes info files for mono-3D, made by mmdet3d's own converter.

mmdet3d 1.4 ships its converter as scripts inside the wheel
(``mmdet3d/.mim/tools/dataset_converters``), not as an importable package, and
its v1 -> v2 update step opens the dataset at a hard-coded ``./data/nuscenes``.
``create_mono3d_infos`` loads those scripts by file path and runs them on any
data root: ``create_nuscenes_infos`` (v1 infos) and then ``update_pkl_infos``
(v2 infos with ``cam_instances``), with the update step's ``NuScenes`` pointed
at the caller's root. The LiDAR ground-truth database is not built: mono-3D
training never reads it.

Each camera image's ``width`` and ``height`` are added to the v2 infos, taken
from nuScenes' ``sample_data`` table (no image is opened; the image's header only
where the table has no size), so that datasets need not open every image at
start-up (``PaperEpochNuScenesDataset``).

No write follows a link: ``root`` is held (``lzu.infra.atomic_io.hold_root``), the info
files are written with ``atomic_open`` (the converter's ``mmengine.dump`` through the atomic
file backend that importing ``lzu.openmmlab`` installs: ``tools/create_data.py`` does), and
each is renamed over its final name, which replaces a link there instead of writing through it.

Atomic: the converter writes its v1 files under a temporary prefix, the update
turns them into v2 under that prefix, and only then is each file renamed to its
final name. An interrupted run (Ctrl-C, kill) leaves the final names untouched
(absent, or the previous complete v2 files); its temporary files are removed at
the next run.
"""

import contextlib
import glob
import importlib.util
import os
import os.path as osp

import mmdet3d
import mmengine
from PIL import Image

from lzu.data.infos import record_image_sizes
from lzu.infra.atomic_io import atomic_open, hold_root
from lzu.infra.safe_pickle import load_data_pickle

__all__ = ["mim_tools_dir", "load_mim_module", "create_mono3d_infos"]


def mim_tools_dir():
    """``<site-packages>/mmdet3d/.mim/tools`` of the installed mmdet3d."""
    path = osp.join(osp.dirname(mmdet3d.__file__), ".mim", "tools")
    if not osp.isdir(path):
        raise FileNotFoundError(f"mmdet3d's tools are missing from the wheel: '{path}'")
    return path


def load_mim_module(relpath, name):
    """Import ``.mim/tools/<relpath>`` under the module name ``name``."""
    path = osp.join(mim_tools_dir(), relpath)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _nuscenes_root_for(module, root, opened=None):
    """Make ``module.NuScenes(...)`` open ``root`` whatever dataroot it asks for; the
    ``NuScenes`` objects made are appended to the list ``opened``."""
    original = module.NuScenes

    def at_root(*args, **kwargs):
        kwargs["dataroot"] = root
        nusc = original(*args, **kwargs)
        if opened is not None:
            opened.append(nusc)
        return nusc

    module.NuScenes = at_root
    try:
        yield
    finally:
        module.NuScenes = original


def _image_size_reader(nusc, root):
    """``size_of(image_info)`` for ``record_image_sizes``: ``(width, height)`` from the
    ``sample_data`` table of ``nusc`` (a ``NuScenes``), else from the image's header."""

    def size_of(cam, img):
        token = img.get("sample_data_token")
        if nusc is not None and token:
            record = nusc.get("sample_data", token)
            if record.get("width") and record.get("height"):
                return record["width"], record["height"]
        path = osp.join(root, "samples", cam, img["img_path"])
        with Image.open(path) as im:
            return im.size

    return size_of


def add_image_sizes(path, nusc, root):
    """Record every camera image's size in the v2 info file ``path`` (rewritten in place)."""
    data = load_data_pickle(path)
    record_image_sizes(data["data_list"], _image_size_reader(nusc, root))
    with atomic_open(path, "wb") as f:
        mmengine.dump(data, f, file_format="pkl")


def create_mono3d_infos(root, version="v1.0-trainval", info_prefix="nuscenes", max_sweeps=10):
    """Write ``<root>/<prefix>_infos_{train,val}.pkl`` in mmdet3d's v2 format.

    Returns the paths of the written info files.
    """
    root = osp.abspath(root)
    if not osp.isdir(osp.join(root, version)):
        raise FileNotFoundError(
            f"'{osp.join(root, version)}' not found: expected the nuScenes tables of "
            f"{version} under the data root '{root}'"
        )
    converter = load_mim_module(
        osp.join("dataset_converters", "nuscenes_converter.py"), "mmdet3d_mim_nuscenes_converter"
    )
    updater = load_mim_module(
        osp.join("dataset_converters", "update_infos_to_v2.py"), "mmdet3d_mim_update_infos_to_v2"
    )
    hold_root(root)
    splits = ["test"] if version == "v1.0-test" else ["train", "val"]
    for stale in glob.glob(osp.join(root, f"{info_prefix}.partial-*_infos_*.pkl")):
        os.unlink(stale)  # left by an interrupted run
    partial = f"{info_prefix}.partial-{os.getpid()}"
    tmp_paths = [osp.join(root, f"{partial}_infos_{split}.pkl") for split in splits]
    paths = [osp.join(root, f"{info_prefix}_infos_{split}.pkl") for split in splits]
    try:
        converter.create_nuscenes_infos(root, partial, version=version, max_sweeps=max_sweeps)
        opened = []
        with _nuscenes_root_for(updater, root, opened):
            for path in tmp_paths:
                updater.update_pkl_infos("nuscenes", out_dir=root, pkl_path=path)
                if osp.isfile(path):
                    add_image_sizes(path, opened[-1] if opened else None, root)
        for tmp, path in zip(tmp_paths, paths, strict=True):
            if osp.isfile(tmp):
                os.replace(tmp, path)
    finally:
        for tmp in tmp_paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return [p for p in paths if os.path.isfile(p)]
