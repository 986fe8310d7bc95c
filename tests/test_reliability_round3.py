"""Reliability, round three: no code from a planted info file, image sizes in the infos,
malformed 2-D annotation files, bad segmentation data, tool arguments, and one-line
refusals from every tool.

Every test uses tiny synthetic data; each class keeps at least one fast case.
"""

import json
import os
import os.path as osp
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, MarkerExploit, run_tool
from PIL import Image
from test_reliability import BASELINE, assert_clean_error

import lzu.openmmlab  # noqa: F401  (installs the safe loaders and the pickle handler)
from lzu.apis.runtime import load_config
from lzu.infra.errors import UserInputError
from lzu.infra.safe_pickle import UnsafePickleError

LZU2D = "configs/det2d/lzu_fcos_0.50.py"
VIS = "configs/demo/lzu_fcos3d_demo.py"
PAPER_SALIENCY = f"model.grid_generator.saliency_file={ROOT}/saliency.pkl"
SEG = "configs/seg/fcn_r50-d8_uniform_64x64.py"


def load_data_pickle(path):
    """``lzu.infra.safe_pickle.load_data_pickle`` (imported here so that this file also runs,
    and fails test by test, on a version without it)."""
    from lzu.infra.safe_pickle import load_data_pickle as load

    return load(path)


def plant(path, marker, protocol=2):
    """Overwrite ``path`` with a v2-looking info file that creates ``marker`` when unpickled."""
    data = {"metainfo": {"version": "v1.0-mini"},
            "data_list": [{"token": "t", "images": {}, "x": MarkerExploit(str(marker))}]}
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)
    return str(path)


# ------------------------------------------------------ 1. info files: plain data only


def info_like():
    """What mmdet3d's v2 infos hold: nested dicts and lists, numpy arrays, dtypes, scalars."""
    return {"metainfo": {"categories": {"car": 0}, "version": "v1.0-mini"},
            "data_list": [{"token": "abc", "timestamp": 1.5e9, "ego2global": [[1.0, 0.0]],
                           "images": {"CAM_FRONT": {"img_path": "a.jpg", "cam2img": np.eye(3),
                                                    "width": 1600, "height": 900}},
                           "lidar_points": {"num_pts_feats": np.int64(5),
                                            "scale": np.float32(0.5)},
                           "gt": np.arange(6, dtype=np.float32).reshape(2, 3),
                           "names": np.array(["car", "truck"]), "flags": np.array([True, False]),
                           "kind": np.dtype("float64"), "tags": {1, 2}, "raw": b"\x00\x01",
                           "pair": (1, "a"), "none": None}]}


def assert_equal_data(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_equal_data(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_equal_data(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_data_round_trips_through_every_info_reader(tmp_path, protocol):
    import mmengine

    from lzu.data.infos import load_infos

    path = tmp_path / "infos.pkl"
    with open(path, "wb") as f:
        pickle.dump(info_like(), f, protocol=protocol)
    assert_equal_data(load_data_pickle(str(path)), info_like())
    assert_equal_data(mmengine.load(str(path)), info_like())
    with open(path, "rb") as f:
        assert_equal_data(mmengine.load(f, file_format="pkl"), info_like())
    assert_equal_data(load_infos(str(path)), info_like()["data_list"])


def test_planted_info_file_runs_no_code_on_any_loader(tmp_path):
    """load_infos, mmengine.load (path and file object) and a dataset built from the file."""
    import mmengine
    from mmdet3d.registry import DATASETS
    from mmengine.registry import init_default_scope

    from lzu.data.infos import InfoFileError, load_infos

    marker = tmp_path / "pwned"
    evil = plant(tmp_path / "nuscenes_infos_train.pkl", marker)
    named = rf"{evil}: refusing to unpickle global 'io.open'"
    with pytest.raises(InfoFileError, match=named):
        load_infos(evil)
    with pytest.raises(UnsafePickleError, match=named):
        mmengine.load(evil)
    with pytest.raises(UnsafePickleError, match=named), open(evil, "rb") as f:
        mmengine.load(f, file_format="pkl")
    init_default_scope("mmdet3d")
    cfg = load_config(osp.join(ROOT, BASELINE), data_root=str(tmp_path))
    with pytest.raises(UnsafePickleError, match=named):
        DATASETS.build(cfg.train_dataloader.dataset)
    assert not marker.exists()


def test_a_payload_of_any_global_is_refused(tmp_path):
    """Not a denylist: os.system, eval, a numpy loader and a torch global are all refused."""

    class Payload:
        def __init__(self, fn, args):
            self.fn, self.args = fn, args

        def __reduce__(self):
            return (self.fn, self.args)

    marker = tmp_path / "pwned"
    for fn, args in ((os.system, (f"touch {marker}",)), (eval, (f"open('{marker}', 'w')",)),
                     (np.load, (str(marker),)), (torch.load, (str(marker),))):
        path = tmp_path / "x.pkl"
        with open(path, "wb") as f:
            pickle.dump({"data_list": [Payload(fn, args)], "metainfo": {}}, f)
        with pytest.raises(UnsafePickleError, match=f"{fn.__name__}'"):
            load_data_pickle(str(path))
    assert not marker.exists()


@pytest.fixture()
def planted_root(synthetic_root, tmp_path):
    """A copy of the synthetic nuScenes set whose train and val infos are planted."""
    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root)
    marker = tmp_path / "pwned"
    for split in ("train", "val"):
        plant(root / f"nuscenes_infos_{split}.pkl", marker)
    return root, marker


def planted_commands(root, tmp_path):
    out = str(tmp_path / "out")
    return {
        "make_saliency": ["tools/make_saliency.py", "--infos",
                          str(root / "nuscenes_infos_train.pkl"), "--out", out + ".pkl"],
        "train": ["tools/train.py", BASELINE, "--data-root", str(root), "--work-dir", out],
        "test": ["tools/test.py", BASELINE, str(tmp_path / "missing.pth"), "--data-root",
                 str(root), "--work-dir", out],
        "visualize_zoom": ["tools/visualize_zoom.py", VIS, "--data-root", str(root), "--out",
                           out + ".png", "--cfg-options", PAPER_SALIENCY],
    }


@pytest.mark.parametrize("tool", ["make_saliency", "train", "test", "visualize_zoom"])
def test_planted_info_file_through_the_tools(planted_root, tmp_path, tool):
    root, marker = planted_root
    result = run_tool(planted_commands(root, tmp_path)[tool])
    assert_clean_error(result, f"{root}/nuscenes_infos_", "refusing to unpickle global")
    assert not marker.exists()
    assert not osp.exists(tmp_path / "out") and not osp.exists(tmp_path / "out.pkl")


def test_planted_info_file_through_run_sh(planted_root, tmp_path):
    """``sh run.sh <experiment>`` execs tools/run_experiment.py (run here directly, so that the
    test never runs the installer)."""
    root, marker = planted_root
    result = run_tool(["tools/run_experiment.py", "lzu_fcos3d_0.75", "--work-dir",
                       str(tmp_path / "wd")], env={"DATA_ROOT": str(root), "GPUS": "0"})
    assert_clean_error(result, f"{root}/nuscenes_infos_", "refusing to unpickle global")
    assert not marker.exists() and not (tmp_path / "wd").exists()


@pytest.mark.slow
def test_planted_info_file_through_the_demo(tmp_path):
    """The 3-D demo reads the infos of its work dir: a planted one stops it, naming the file."""
    wd = tmp_path / "demo"
    args = ["tools/demo.py", "--work-dir", str(wd), "--scenes", "1", "1", "--samples", "2",
            "--iters", "1", "--bench-iters", "1"]
    first = run_tool(args)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    marker = tmp_path / "pwned"
    plant(wd / "data" / "nuscenes_infos_train.pkl", marker)
    os.remove(wd / "saliency.pkl")
    result = run_tool(args)
    assert_clean_error(result, "nuscenes_infos_train.pkl", "refusing to unpickle global")
    assert not marker.exists()


# ------------------------------------------------------ 2. image sizes in the infos


def test_data_preparation_records_every_image_size(synthetic_root):
    from lzu.data.infos import load_infos

    checked = 0
    for split in ("train", "val"):
        for info in load_infos(osp.join(synthetic_root, f"nuscenes_infos_{split}.pkl")):
            for cam, img in info["images"].items():
                if "img_path" not in img:
                    continue
                path = osp.join(synthetic_root, "samples", cam, img["img_path"])
                with Image.open(path) as im:
                    assert (img["width"], img["height"]) == im.size
                checked += 1
    assert checked > 0


def build_train_dataset(root):
    from mmdet3d.registry import DATASETS
    from mmengine.registry import init_default_scope

    init_default_scope("mmdet3d")
    cfg = load_config(osp.join(ROOT, BASELINE), data_root=str(root))
    return DATASETS.build(cfg.train_dataloader.dataset)


def test_dataset_start_up_opens_no_image_and_falls_back_to_headers(synthetic_root, tmp_path,
                                                                    monkeypatch):
    import lzu.openmmlab.dataset as dataset_module

    opened = []

    def counting_open(path, *args, **kwargs):
        opened.append(path)
        return original(path, *args, **kwargs)

    original = dataset_module.Image.open
    monkeypatch.setattr(dataset_module.Image, "open", counting_open)
    with_sizes = build_train_dataset(synthetic_root)
    assert len(with_sizes) > 0 and opened == []

    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root)
    path = root / "nuscenes_infos_train.pkl"
    data = load_data_pickle(str(path))
    for info in data["data_list"]:
        for img in info["images"].values():
            img.pop("width", None), img.pop("height", None)
    with open(path, "wb") as f:
        pickle.dump(data, f)
    without = build_train_dataset(root)
    assert len(without) == len(with_sizes) and len(opened) >= len(without)


# ------------------------------------------------------ 3. malformed 2-D annotation files


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


def _set(path, value):
    def damage(d):
        node = d
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return damage


def _delete(path):
    def damage(d):
        node = d
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return damage


def _add_annotation(**fields):
    def damage(d):
        ann = {**d["annotations"][0], "id": 99, **fields}
        d["annotations"].append(ann)
    return damage


def _duplicate_image(d):
    d["images"].append(dict(d["images"][0], fid=1))


def _resize_everything(d):  # the json says twice the real size, boxes scaled along
    for img in d["images"]:
        img["width"], img["height"] = img["width"] * 2, img["height"] * 2


COCO_DAMAGE = {
    "no images": (_set(["images"], []), "'images' is empty"),
    "no annotations": (_set(["annotations"], []), "'annotations' is empty"),
    "no annotations key": (_delete(["annotations"]), "has no 'annotations' list"),
    "missing height": (_delete(["images", 0, "height"]), "image id 1 has no positive "
                                                          "whole-number 'height'"),
    "missing sid": (_delete(["images", 1, "sid"]), "image id 2 names no file"),
    "sid out of range": (_set(["images", 1, "sid"], 7), "sid 7 is not an index into 'seq_dirs'"),
    "string bbox": (_set(["annotations", 0, "bbox"], ["8", "8", "20", "16"]),
                    "is not four finite numbers"),
    "NaN bbox": (_set(["annotations", 0, "bbox"], [8.0, float("nan"), 2.0, 2.0]),
                 "is not four finite numbers"),
    "negative box": (_set(["annotations", 0, "bbox"], [8.0, 8.0, -4.0, 6.0]),
                     "negative width or height"),
    "box outside the image": (_set(["annotations", 0, "bbox"], [500.0, 8.0, 20.0, 16.0]),
                              "lies wholly outside its image (64x48)"),
    "unknown category id": (_add_annotation(category_id=42),
                            "category_id 42 is not in 'categories'"),
    "unknown image id": (_add_annotation(image_id=42), "image_id 42 is no image's id"),
    "duplicate image ids": (_duplicate_image, "image id 1 is used by two images"),
    "duplicate annotation ids": (_add_annotation(id=1), "annotation id 1 is used twice"),
    "missing area": (_delete(["annotations", 0, "area"]), "'area' None is missing"),
    "path leaving the root": (_set(["seq_dirs", 0], "../../../../etc"),
                              "leaves the image folder"),
    "absolute path": (_set(["images", 0, "file_name"], "/etc/passwd"), "leaves the image folder"),
    "json size disagrees with the images": (_resize_everything, "is 128x96, but it is 64x48"),
}


@pytest.fixture()
def coco_root(tmp_path):
    return write_coco_set(str(tmp_path / "argoverse"))


def damage_json(root, split, damage):
    path = osp.join(root, "Argoverse-HD", "annotations", f"{split}.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    damage(data)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return path


@pytest.mark.parametrize("case", sorted(COCO_DAMAGE))
def test_malformed_2d_annotations_are_refused_by_the_data_check(coco_root, case):
    from lzu.apis.data_check import check_data

    cfg = load_config(osp.join(ROOT, LZU2D), data_root=coco_root)
    assert check_data(cfg) is cfg
    damage, message = COCO_DAMAGE[case]
    path = damage_json(coco_root, "val", damage)
    with pytest.raises(UserInputError) as err:
        check_data(cfg)
    assert message in str(err.value) and (path in str(err.value) or "128x96" in str(err.value))


@pytest.mark.parametrize("case", ["no annotations key", "missing sid", "string bbox",
                                  "path leaving the root"])
def test_malformed_2d_annotations_are_refused_by_the_dataset(coco_root, case):
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    init_default_scope("mmdet")
    cfg = load_config(osp.join(ROOT, LZU2D), data_root=coco_root)
    damage, message = COCO_DAMAGE[case]
    damage_json(coco_root, "train", damage)
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DATASETS.build(cfg.train_dataloader.dataset)


def test_what_mmdet_ignores_is_logged(coco_root, capsys):
    from mmdet.registry import DATASETS
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    init_default_scope("mmdet")
    MMLogger.get_instance("round3", log_level="INFO")
    cfg = load_config(osp.join(ROOT, LZU2D), data_root=coco_root)

    def add(d):
        d["categories"].append({"id": 8, "name": "animal"})
        d["annotations"].append(dict(d["annotations"][0], id=50, bbox=[4.0, 4.0, 0.5, 9.0],
                                     area=4.5))
        d["annotations"].append(dict(d["annotations"][0], id=51, category_id=8))

    damage_json(coco_root, "train", add)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    out = capsys.readouterr().out
    assert "1 boxes thinner than 1 px" in out and "animal (1)" in out
    assert sum(len(dataset.get_data_info(i)["instances"]) for i in range(len(dataset))) == 2


def test_malformed_2d_annotations_through_the_tools(coco_root, tmp_path):
    damage_json(coco_root, "train", COCO_DAMAGE["missing sid"][0])
    train = run_tool(["tools/train.py", LZU2D, "--data-root", coco_root,
                      "--work-dir", str(tmp_path / "wd")])
    assert_clean_error(train, "image id 2 names no file")
    saliency = run_tool(["tools/make_saliency.py", "--coco",
                         osp.join(coco_root, "Argoverse-HD", "annotations", "train.json"),
                         "--out", str(tmp_path / "s.pkl")])
    assert_clean_error(saliency, "image id 2 names no file")


# ------------------------------------------------------ 4. bad segmentation data


@pytest.fixture()
def seg_root(tmp_path):
    from lzu.data.synthetic import write_synthetic_cityscapes

    root = str(tmp_path / "cityscapes")
    write_synthetic_cityscapes(root, train_frames=4, val_frames=5, size=(32, 64), seed=0)
    return root


def seg_files(root, split, kind):
    folder, suffix = (("gtFine", "_labelTrainIds.png") if kind == "label"
                      else ("leftImg8bit", ".png"))
    return sorted(str(p) for p in Path(root, folder, split).rglob("*")
                  if str(p).endswith(suffix))


def _bad_value(root):
    import cv2

    path = seg_files(root, "val", "label")[-1]  # the last map: a check of the first few misses it
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    label[0, 0] = 33
    cv2.imwrite(path, label)
    return path, "holds value(s) 33"


def _label_of_another_size(root):
    import cv2

    path = seg_files(root, "val", "label")[-1]
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    cv2.imwrite(path, np.ascontiguousarray(np.repeat(np.repeat(label, 2, 0), 2, 1)))
    return path, "is 128x64, its image"


def _image_of_another_size(root):
    path = seg_files(root, "val", "image")[-1]
    with Image.open(path) as im:
        im.resize((128, 64)).save(path)
    return path, "images of different sizes"


def _truncate_last(root, kind):
    """Cut the last validation file of ``kind`` ('image' or 'label') in half."""
    path = seg_files(root, "val", kind)[-1]
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return path, "truncated"


def _truncated_image(root):
    return _truncate_last(root, "image")


def _truncated_label(root):
    return _truncate_last(root, "label")


SEG_DAMAGE = {"label value outside the classes": _bad_value,
              "label map of another size": _label_of_another_size,
              "images of mixed sizes": _image_of_another_size,
              "truncated image": _truncated_image, "truncated label map": _truncated_label}


@pytest.mark.parametrize("case", sorted(SEG_DAMAGE))
def test_bad_segmentation_data_is_refused_reading_every_file(seg_root, case):
    from lzu.apis.data_check import DataError, check_data

    cfg = load_config(osp.join(ROOT, SEG), data_root=seg_root)
    assert check_data(cfg) is cfg
    path, message = SEG_DAMAGE[case](seg_root)
    with pytest.raises(DataError) as err:
        check_data(cfg, splits=("val",))
    assert message in str(err.value) and osp.basename(path) in str(err.value)


def test_bad_segmentation_data_through_the_tools(seg_root, tmp_path):
    _bad_value(seg_root)
    result = run_tool(["tools/test.py", SEG, str(tmp_path / "none.pth"), "--data-root", seg_root,
                       "--work-dir", str(tmp_path / "wd")])
    assert_clean_error(result, "holds value(s) 33", "val_dataloader")


def test_segmentation_data_check_reads_every_map_fast(tmp_path, monkeypatch):
    """Every label map is decoded, once; the cost per frame is printed (no timing assert)."""
    import lzu.data.seg_folders as seg_folders
    from lzu.apis.data_check import check_data
    from lzu.data.synthetic import write_synthetic_cityscapes

    read = []
    original = seg_folders.read_label_map
    monkeypatch.setattr(seg_folders, "read_label_map", lambda p: read.append(p) or original(p))
    root = str(tmp_path / "cityscapes")
    write_synthetic_cityscapes(root, train_frames=1, val_frames=20, size=(256, 512), seed=0)
    cfg = load_config(osp.join(ROOT, SEG), data_root=root)
    start = time.perf_counter()
    check_data(cfg, splits=("val",))
    per_frame = (time.perf_counter() - start) / 20
    assert sorted(read) == seg_files(root, "val", "label")
    print(f"segmentation data check: {per_frame * 1e3:.1f} ms per 256x512 frame")


# ------------------------------------------------------ 5. tool arguments


@pytest.mark.parametrize("args, message", [
    (["--grid-shape", "0", "0"], "grid shape 0x0 must be two whole numbers >= 2"),
    (["--grid-shape", "1", "48"], "grid shape 1x48"),
    (["--image-size", "0", "0"], "image size 0x0 must be positive"),
    (["--image-size", "1600", "0"], "image size 1600x0 must be positive"),
    (["--bandwidth", "0"], "bandwidth 0.0 must be a positive number"),
    (["--bandwidth", "-3"], "bandwidth -3.0 must be a positive number"),
    (["--bandwidth", "nan"], "bandwidth nan"),
    (["--amplitude", "-1"], "amplitude -1.0 must be >= 0"),
])
def test_make_saliency_refuses_settings_that_cannot_work(synthetic_root, tmp_path, args, message):
    out = tmp_path / "s.pkl"
    result = run_tool(["tools/make_saliency.py", "--infos",
                       osp.join(synthetic_root, "nuscenes_infos_train.pkl"), "--out", str(out),
                       *args])
    assert_clean_error(result, message)
    assert not out.exists()


def test_make_saliency_refuses_a_zero_grid_for_label_maps(seg_root, tmp_path):
    result = run_tool(["tools/make_saliency.py", "--seg-labels",
                       osp.join(seg_root, "gtFine", "train"), "--grid-shape", "0", "0",
                       "--out", str(tmp_path / "s.pkl")])
    assert_clean_error(result, "grid shape 0x0")



@pytest.mark.parametrize("args, message", [
    (["--camera", "CAM_NOSE"], "--camera CAM_NOSE: frame 0 of"),
    (["--index", "999"], "--index 999:"),
    (["--index", "-1"], "--index -1:"),
    (["--features", "--level", "9"], "--level 9: the model has"),
    (["--features", "--level", "-1"], "--level -1: the model has"),
    (["--cfg-options", "model.grid_generator.output_shape=(400000,400000)"],
     "GiB, more than half of this machine's"),
])
def test_visualize_zoom_refuses_bad_arguments(synthetic_root, tmp_path, args, message):
    result = run_tool(["tools/visualize_zoom.py", VIS, "--data-root", synthetic_root,
                       "--out", str(tmp_path / "z.png"), "--cfg-options", PAPER_SALIENCY, *args])
    assert_clean_error(result, message)
    assert not (tmp_path / "z.png").exists()


def test_visualize_zoom_missing_or_broken_image(tmp_path):
    result = run_tool(["tools/visualize_zoom.py", VIS, "--image", str(tmp_path / "none.jpg"),
                       "--out", str(tmp_path / "z.png"), "--cfg-options", PAPER_SALIENCY])
    assert_clean_error(result, f"image '{tmp_path / 'none.jpg'}' not found")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    result = run_tool(["tools/visualize_zoom.py", VIS, "--image", str(tmp_path / "bad.jpg"),
                       "--out", str(tmp_path / "z.png"), "--cfg-options", PAPER_SALIENCY])
    assert_clean_error(result, "bad.jpg' cannot be read")


@pytest.mark.parametrize("launcher, names", [
    ("pytorch", "RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set"),
    ("slurm", "SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST are not set"),
])
def test_launcher_without_its_environment(synthetic_root, tmp_path, launcher, names):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "OMPI_")) and k not in (
               "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    for tool in ("tools/train.py", "tools/test.py"):
        args = [tool, BASELINE] + ([str(tmp_path / "x.pth")] if tool.endswith("test.py") else [])
        result = subprocess.run(
            [sys.executable, *args, "--data-root", synthetic_root, "--work-dir",
             str(tmp_path / "wd"), "--launcher", launcher],
            cwd=ROOT, capture_output=True, text=True, env=env)
        assert_clean_error(result, f"--launcher {launcher}, but {names}")
    assert not (tmp_path / "wd").exists()


@pytest.mark.parametrize("fwhm", [0, -1, float("nan"), float("inf")])
def test_attraction_fwhm_must_be_positive(fwhm):
    from lzu.core.fixed_grid import FixedGrid, GridSettingError

    with pytest.raises(GridSettingError, match="attraction_fwhm must be a positive number"):
        FixedGrid(torch.ones(1, 1, 4, 6), output_shape=(8, 12), grid_shape=(4, 6),
                  attraction_fwhm=fwhm)


def test_overflowing_saliency_is_refused_at_construction():
    from lzu.core.fixed_grid import FixedGrid, GridSettingError

    huge = torch.full((1, 1, 27, 48), 3e38)
    with pytest.raises(GridSettingError, match="not finite .* overflow"):
        FixedGrid(huge, output_shape=(90, 160))
    grid = FixedGrid((huge.double() / huge.double().sum()).float(), output_shape=(90, 160))
    up, coarse = grid(torch.zeros(1, 3, 90, 160))
    assert torch.isfinite(up).all() and torch.isfinite(coarse).all()


def test_core_zoom_refuses_a_zero_fwhm():
    from lzu.core.zoom import saliency_to_grid

    with pytest.raises(ValueError, match="fwhm must be a positive number"):
        saliency_to_grid(torch.ones(1, 1, 4, 4), attraction_fwhm=0)


# ------------------------------------------------------ 6. refusals are one line


def test_safe_loader_refusals_are_one_line_in_every_tool(synthetic_root, tmp_path):
    """A refused saliency (visualize_zoom, benchmark, train) and a refused checkpoint (test)."""
    marker = tmp_path / "pwned"
    saliency = tmp_path / "evil_saliency.pkl"
    with open(saliency, "wb") as f:
        pickle.dump(MarkerExploit(str(marker)), f)
    option = f"model.grid_generator.saliency_file={saliency}"
    commands = [
        ["tools/visualize_zoom.py", VIS, "--data-root", synthetic_root, "--out",
         str(tmp_path / "z.png"), "--cfg-options", option],
        ["tools/benchmark.py", VIS, "--data-root", synthetic_root, "--iters", "1", "--warmup",
         "0", "--out-dir", str(tmp_path / "bench"), "--saliency", str(saliency)],
        ["tools/train.py", VIS, "--data-root", synthetic_root, "--work-dir", str(tmp_path / "wd"),
         "--cfg-options", option],
    ]
    for args in commands:
        assert_clean_error(run_tool(args), "evil_saliency.pkl", "refusing to unpickle global")
    ckpt = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": MarkerExploit(str(marker))}}, ckpt)
    result = run_tool(["tools/test.py", BASELINE, str(ckpt), "--data-root", synthetic_root,
                       "--work-dir", str(tmp_path / "wd2")])
    assert_clean_error(result, "evil.pth", "refused by the safe loader")
    assert not marker.exists()


def test_run_main_prints_one_line_and_keeps_bugs_loud():
    from lzu.infra.cli import run_main

    def refused(argv):
        raise UnsafePickleError("x.pkl: refusing to unpickle global 'os.system'")

    with pytest.raises(SystemExit) as exit_info:
        run_main(refused, "tool")
    assert exit_info.value.code == "tool: error: x.pkl: refusing to unpickle global 'os.system'"

    def bug(argv):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_main(bug, "tool")


def test_every_tool_runs_its_main_through_run_main():
    tools = sorted(f for f in os.listdir(osp.join(ROOT, "tools"))
                   if f.endswith(".py") and not f.startswith("_"))
    assert len(tools) >= 15
    for name in tools:
        source = open(osp.join(ROOT, "tools", name), encoding="utf-8").read()
        main_block = source.split('if __name__ == "__main__":', 1)[-1]
        assert "run_main(" in main_block, f"tools/{name} does not run its main through run_main"

