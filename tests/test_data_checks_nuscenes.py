"""Data checks of the nuScenes (mono-3D) task: the data root, its info files, images and
intrinsics are checked before training, each fault named in one line."""

import os
import os.path as osp
import pickle
import shutil

import numpy as np
import pytest
from conftest import ROOT, run_tool
from helpers import BASELINE, LZU_PATH, assert_clean_error
from PIL import Image

import lzu.openmmlab  # noqa: F401  (re-registers the loading transform)
from lzu.apis.runtime import load_config
from lzu.infra.errors import UserInputError
from lzu.infra.safe_pickle import load_data_pickle

K = [[1266.4, 0.0, 816.3], [0.0, 1266.4, 491.5], [0.0, 0.0, 1.0]]


@pytest.fixture()
def broken_root(synthetic_root, tmp_path):
    """A private copy of the synthetic set that a test may damage."""
    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root)
    return root


# ------------------------------------------------------------ the data root and its info files


def test_missing_data_root(tmp_path):
    result = run_tool(["tools/train.py", BASELINE, "--data-root", str(tmp_path / "nowhere")])
    assert_clean_error(result, f"data root '{tmp_path / 'nowhere'}/' does not exist",
                       "tools/create_data.py")


def test_missing_info_file(broken_root):
    os.remove(broken_root / "nuscenes_infos_train.pkl")
    result = run_tool(["tools/train.py", BASELINE, "--data-root", str(broken_root)])
    assert_clean_error(result, "nuscenes_infos_train.pkl' (train_dataloader) not found",
                       "tools/create_data.py")


def test_corrupt_info_file(broken_root):
    (broken_root / "nuscenes_infos_train.pkl").write_bytes(b"\x80\x04\x95garbage")
    result = run_tool(["tools/train.py", BASELINE, "--data-root", str(broken_root)])
    assert_clean_error(result, "nuscenes_infos_train.pkl' is corrupt")


def test_v1_info_file(broken_root):
    with open(broken_root / "nuscenes_infos_val.pkl", "wb") as f:
        pickle.dump({"infos": [], "metadata": {"version": "v1.0-mini"}}, f)
    result = run_tool(["tools/test.py", BASELINE, "missing.pth", "--data-root", str(broken_root)])
    assert_clean_error(result, "v1 format", "tools/create_data.py")


def test_version_mismatch_is_caught_before_training(synthetic_root):
    from lzu.apis.data_check import DataError, check_data

    cfg = load_config(osp.join(ROOT, "configs", "lzu_fcos3d_0.25.py"), data_root=synthetic_root)
    with pytest.raises(DataError, match=r"v1.0-trainval.*found: v1.0-mini"):
        check_data(cfg)


def test_missing_images_are_listed(broken_root):
    removed = sorted((broken_root / "samples" / "CAM_BACK").iterdir())[:2]
    for path in removed:
        path.unlink()
    result = run_tool(["tools/train.py", BASELINE, "--data-root", str(broken_root)])
    assert_clean_error(result, "images referenced by", "are missing", removed[0].name)


# ------------------------------------------------------------ images and intrinsics


def load_image(path, cam2img=K):
    from mmdet3d.registry import TRANSFORMS
    from mmengine.registry import DefaultScope

    # mmdet3d's scope whatever scope an earlier test in this process left as the default
    with DefaultScope.overwrite_default_scope("mmdet3d"):
        loader = TRANSFORMS.build(dict(type="LoadImageFromFileMono3D"))
    return loader({"images": {"CAM_FRONT": {"img_path": str(path), "cam2img": cam2img}}})


@pytest.fixture()
def good_jpeg(tmp_path):
    path = tmp_path / "img.jpg"
    Image.fromarray(np.full((900, 1600, 3), 90, np.uint8)).save(path, quality=80)
    return path


def test_good_image_loads(good_jpeg):
    assert load_image(good_jpeg)["img"].shape == (900, 1600, 3)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "truncated JPEG"),
    (lambda b: b"", "is empty"),
    (lambda b: b"this is not an image at all" * 10, "cannot decode image"),
])
def test_bad_image_files_are_named(good_jpeg, damage, message):
    from lzu.openmmlab.loading import ImageError

    good_jpeg.write_bytes(damage(good_jpeg.read_bytes()))
    with pytest.raises(ImageError, match=message) as err:
        load_image(good_jpeg)
    assert str(good_jpeg) in str(err.value)


def test_image_of_another_size_than_its_intrinsics_is_refused(tmp_path):
    from lzu.openmmlab.loading import ImageError

    path = tmp_path / "half.jpg"
    Image.fromarray(np.zeros((450, 800, 3), np.uint8)).save(path)
    with pytest.raises(ImageError, match="does not have the size its info describes"):
        load_image(path)


@pytest.mark.parametrize("cam2img, message", [
    (None, "no cam2img"),
    ([[1.0, 0.0], [0.0, 1.0]], "must be 3x3"),
    ([[float("nan"), 0, 800], [0, 1266, 450], [0, 0, 1]], "NaN"),
    ([[0.0, 0, 800], [0, 0, 450], [0, 0, 1]], "singular"),
])
def test_bad_intrinsics_are_named(cam2img, message):
    from lzu.openmmlab.loading import ImageError, check_cam2img

    with pytest.raises(ImageError, match=message):
        check_cam2img(cam2img, "sample abc, CAM_FRONT")


def test_bad_intrinsics_in_the_infos_are_caught_up_front(synthetic_root, tmp_path):
    from lzu.apis.data_check import check_data

    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root)
    path = root / "nuscenes_infos_val.pkl"
    with open(path, "rb") as f:
        infos = pickle.load(f)
    infos["data_list"][1]["images"]["CAM_BACK"]["cam2img"] = [[1.0, 0.0], [0.0, 1.0]]
    with open(path, "wb") as f:
        pickle.dump(infos, f)
    cfg = load_config(LZU_PATH, data_root=str(root))
    with pytest.raises(UserInputError, match=r"nuscenes_infos_val.pkl', sample .*CAM_BACK.*3x3"):
        check_data(cfg, splits=("val",))


# ------------------------------------------------------------ image sizes from the infos


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
