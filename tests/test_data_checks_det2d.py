"""Data checks of the 2-D detection task (Argoverse-HD / COCO-style json): every malformed
annotation file is refused by the data check and by the dataset, naming the file and the fault."""

import json
import os.path as osp

import pytest
from conftest import ROOT, run_tool
from helpers import assert_clean_error, write_coco_set

import lzu.openmmlab  # noqa: F401  (registers the dataset)
from lzu.apis.runtime import load_config
from lzu.infra.errors import UserInputError

LZU2D = "configs/det2d/lzu_fcos_0.50.py"


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
    MMLogger.get_instance("data_checks_det2d", log_level="INFO")
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
