"""Data checks of the segmentation task (Cityscapes layout): every label map and image is read,
and a bad one is named with its fault."""

import os.path as osp
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_tool
from helpers import assert_clean_error
from PIL import Image

from lzu.apis.runtime import load_config

SEG = "configs/seg/fcn_r50-d8_uniform_64x64.py"


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
