"""Helpers shared by the test files (not a test file): configs, tool runs, tiny data sets."""

import importlib.util
import json
import os
import os.path as osp
import pickle

from conftest import ROOT
from PIL import Image

BASELINE = "configs/demo/fcos3d_demo.py"
LZU = "configs/demo/lzu_fcos3d_demo.py"
LZU_PATH = osp.join(ROOT, LZU)
QUIET_TRAIN = ["train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False",
               "default_hooks.logger.interval=1"]
QUIET = [*QUIET_TRAIN, "val_dataloader.num_workers=0", "val_dataloader.persistent_workers=False",
         "test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False"]
NO_VAL = ["val_cfg=None", "val_dataloader=None", "val_evaluator=None"]


def assert_clean_error(result, *fragments):
    """Non-zero exit, every fragment in the message, and no Python stack trace."""
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    for fragment in fragments:
        assert fragment in out, f"{fragment!r} not in:\n{out[-2000:]}"


def write_saliency(path, tensor):
    """Pickle ``tensor`` (or anything) to ``path``; returns the path as a string."""
    with open(path, "wb") as f:
        pickle.dump(tensor, f)
    return str(path)


def load_tool(name):
    """Import ``tools/<name>.py`` as a fresh module (the tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", osp.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_coco_set(root, width=64, height=48):
    """A tiny Argoverse-HD-layout set: two sequences, one image each, per split."""
    for split in ("train", "val"):
        seq_dirs, images, anns = [], [], []
        for sid in range(2):
            seq = f"{split}/seq{sid}/ring_front_center"
            seq_dirs.append(seq)
            folder = osp.join(root, "Argoverse-1.1", "tracking", seq)
            os.makedirs(folder, exist_ok=True)
            Image.new("RGB", (width, height), (100, 50 * sid, 0)).save(osp.join(folder, "f0.jpg"))
            images.append({"id": sid + 1, "name": "f0.jpg", "sid": sid, "fid": 0,
                           "width": width, "height": height})
            anns.append({"id": sid + 1, "image_id": sid + 1, "category_id": 2,
                         "bbox": [8.0, 8.0, 20.0, 16.0], "area": 320.0, "iscrowd": 0})
        categories = [{"id": i, "name": n} for i, n in enumerate(
            ("person", "bicycle", "car", "motorcycle", "bus", "truck", "traffic_light",
             "stop_sign"))]
        path = osp.join(root, "Argoverse-HD", "annotations", f"{split}.json")
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"images": images, "annotations": anns, "categories": categories,
                       "seq_dirs": seq_dirs}, f)
    return root


class _Custom:
    """A harmless class torch's weights-only loader does not know (importable by the tools)."""
