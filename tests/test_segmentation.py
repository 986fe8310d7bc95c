"""LZU for semantic segmentation: LZUEncoderDecoder, the Cityscapes-layout set, the boundary saliency."""

import json
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, run_tool
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from PIL import Image
from seg_fixtures import (
    GRID,
    build,
    identity,
    label_field,
    model_cfg,
    pair,
    peaked_saliency,
    seg_samples,
)

import lzu.openmmlab  # noqa: F401  (registers LZUEncoderDecoder, PerClassIoUMetric)
from lzu.apis.runtime import cfg_option
from lzu.core.fixed_grid import FixedGrid
from lzu.core.saliency_io import load_saliency
from lzu.core.wrapper import LZU
from lzu.data.saliency_boundary import boundary_map, boundary_saliency
from lzu.data.synthetic.cityscapes_writer import CLASSES, IGNORE, TRAIN_IDS
from lzu.infra.errors import UserInputError

# ------------------------------------------------------------------ LZUEncoderDecoder


@pytest.mark.parametrize("family, output_shape", [
    ("fcn", (48, 64)), ("fcn", (64, 40)), ("fcn", (160, 224)), ("fpn", (64, 96)), ("ocr", (48, 64))])
def test_uniform_saliency_lzu_equals_the_segmentor_on_the_resized_image(family, output_shape):
    """Anisotropic and upsampling zooms, with and without a neck, cascades: features and
    logits equal those of the plain segmentor on the resized image."""
    plain, lzu_model = pair(output_shape, family=family)
    plain.eval(), lzu_model.eval()
    torch.manual_seed(1)
    imgs = torch.randn(2, 3, 96, 128) * 50
    h, w = output_shape
    resized = F.grid_sample(imgs.double(), identity(h, w, 2), align_corners=True)
    with torch.no_grad():
        f_lzu = lzu_model.double().extract_feat(imgs.double())
        f_plain = plain.double().extract_feat(resized)
        for a, b in zip(f_lzu, f_plain, strict=True):
            torch.testing.assert_close(a, b, atol=1e-6 * b.abs().max().item(), rtol=0)
        out_lzu = lzu_model.predict(imgs.double(), seg_samples((96, 128), 2))
        out_plain = plain.predict(resized, seg_samples((h, w), 2, ori_shape=(96, 128)))
    for a, b in zip(out_lzu, out_plain, strict=True):
        assert a.seg_logits.data.shape == (19, 96, 128) and a.pred_sem_seg.data.shape == (1, 96, 128)
        torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data, atol=1e-6, rtol=1e-6)
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)


@pytest.mark.parametrize("family, output_shape", [("fcn", (40, 56)), ("fcn", (120, 200)),
                                                   ("ocr", (40, 56))])
def test_loss_uses_the_labels_the_uniform_baseline_trains_on(family, output_shape):
    """Same weights, uniform saliency: LZU's loss on full frames and full-resolution labels equals
    the baseline's on frames and labels resized by mmseg's own Resize transform."""
    from mmseg.registry import TRANSFORMS

    h, w = output_shape
    plain, lzu_model = pair(output_shape, family=family)
    plain.double().train(), lzu_model.double().train()
    torch.manual_seed(2)
    imgs = torch.rand(2, 3, 90, 130, dtype=torch.float64) * 255
    labels = [label_field(90, 130, seed) for seed in (0, 1)]
    resize = TRANSFORMS.build(dict(type="Resize", scale=(w, h), keep_ratio=False))
    base_labels = [torch.from_numpy(resize(dict(img=np.zeros((90, 130, 3), np.uint8),
                                                gt_seg_map=lab, seg_fields=["gt_seg_map"]))
                                    ["gt_seg_map"]).long() for lab in labels]
    resized = F.grid_sample(imgs, identity(h, w, 2), align_corners=True)
    # int64 label maps, as PackSegInputs hands them over
    loss_lzu = lzu_model.loss(imgs, seg_samples((90, 130), 2,
                                                [torch.from_numpy(x).long() for x in labels]))
    loss_plain = plain.loss(resized, seg_samples((h, w), 2, base_labels))
    assert set(loss_lzu) == set(loss_plain)
    assert {"decode.loss_ce", "aux.loss_ce"} <= set(loss_plain) or family == "ocr"
    for key in loss_plain:
        torch.testing.assert_close(loss_lzu[key], loss_plain[key], atol=1e-8, rtol=1e-6)


def test_predict_returns_label_maps_at_the_input_and_original_resolution():
    _, lzu_model = pair((48, 64), peaked_saliency())
    lzu_model.eval()
    imgs = torch.randn(2, 3, 100, 150)
    with torch.no_grad():
        bare = lzu_model.predict(imgs)
        resized_input = lzu_model.predict(imgs, seg_samples((100, 150), 2, ori_shape=(200, 300)))
        raw = lzu_model._forward(imgs, seg_samples((100, 150), 2))
    assert all(o.pred_sem_seg.data.shape == (1, 100, 150)
               and o.seg_logits.data.shape == (19, 100, 150) for o in bare)
    assert all(o.pred_sem_seg.data.shape == (1, 200, 300) for o in resized_input)
    assert raw.shape[-2:] == (6, 8)  # decode head logits in the 48x64 frame (stride 8)


def test_each_image_of_a_padded_batch_equals_itself_alone():
    """The data preprocessor pads a batch; each image's own region is zoomed."""
    _, lzu_model = pair((48, 64), peaked_saliency())
    lzu_model.eval()
    torch.manual_seed(3)
    a, b = torch.randn(1, 3, 100, 150), torch.randn(1, 3, 80, 120)
    batch = torch.zeros(2, 3, 100, 150)
    batch[0], batch[1, :, :80, :120] = a[0], b[0]
    samples = seg_samples((100, 150), 2)
    samples[1].set_metainfo(dict(img_shape=(80, 120), ori_shape=(80, 120)))
    with torch.no_grad():
        together = lzu_model._forward(batch, samples)
        alone = torch.cat([lzu_model._forward(a, seg_samples((100, 150), 1)),
                           lzu_model._forward(b, seg_samples((80, 120), 1))])
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-4)


def test_a_flipped_frame_gets_the_flipped_zoom_and_unzoom():
    """follow_flips: a frame flipped by the pipeline is zoomed with the flipped saliency."""
    _, lzu_model = pair((48, 64), peaked_saliency(col=3))
    img = torch.randn(1, 3, 96, 128, dtype=torch.float64)
    results = {}
    for flip in (None, "horizontal"):
        lzu_model.to_head_frame(seg_samples((96, 128), 1, flip=[flip]), with_gt=False)
        zoomed, state = lzu_model.zoom_inputs(img.flip(-1) if flip else img)
        back = lzu_model.unzoom_features([zoomed], state)[0]
        results[flip] = (zoomed, back)
    assert not torch.allclose(results[None][0], results[None][0].flip(-1), atol=1e-2)
    torch.testing.assert_close(results["horizontal"][0], results[None][0].flip(-1), atol=1e-9,
                               rtol=0)
    torch.testing.assert_close(results["horizontal"][1], results[None][1].flip(-1), atol=1e-9,
                               rtol=0)


def test_anisotropic_zoom_keeps_labels_aligned_through_zoom_and_unzoom():
    """A one-hot label map zoomed (peaked saliency, 96x64 from 120x200) and unzoomed lands
    where the uniformly resized label map is, pixel for pixel away from class borders."""
    h, w, out = 120, 200, (96, 64)
    label = torch.from_numpy(label_field(h, w, blocks=(3, 4))).long()
    label[label == IGNORE] = 19
    onehot = F.one_hot(label, 20).permute(2, 0, 1)[None].double()
    lzu = LZU(FixedGrid(peaked_saliency(), output_shape=out, grid_shape=GRID))
    zoomed, state = lzu.zoom(onehot)
    assert zoomed.shape[-2:] == out and state.scales == [(64 / 200, 96 / 120)]
    back = lzu.unzoom(zoomed, state)
    reference = F.grid_sample(onehot, identity(*out, 1), align_corners=True)
    away = F.max_pool2d(reference.argmax(1, keepdim=True).double(), 5, 1, 2) == -F.max_pool2d(
        -reference.argmax(1, keepdim=True).double(), 5, 1, 2)  # 5x5 neighbourhood of one class
    assert away.float().mean() > 0.5
    agree = back.argmax(1, keepdim=True) == reference.argmax(1, keepdim=True)
    assert agree[away].all()
    assert agree.float().mean() > 0.97
    # the zoom really is not uniform: the zoomed map differs from the resized one
    assert (zoomed.argmax(1) != reference.argmax(1)).float().mean() > 0.02


def test_segmentor_refuses_sliding_windows_and_the_padded_region():
    with pytest.raises(UserInputError, match="sliding window"):
        build(ConfigDict(model_cfg(), test_cfg=dict(mode="slide", crop_size=(8, 8),
                                                     stride=(4, 4))))
    with pytest.raises(UserInputError, match="zoom_region"):
        build(ConfigDict(model_cfg(), zoom_region="padded"))


# ------------------------------------------------------------------ data and saliency


@pytest.fixture(scope="module")
def cityscapes_root(tmp_path_factory):
    from lzu.data.synthetic import write_synthetic_cityscapes

    root = str(tmp_path_factory.mktemp("cityscapes"))
    write_synthetic_cityscapes(root, train_frames=4, val_frames=2, size=(128, 256), seed=0)
    return root


def test_cityscapes_layout_loads_in_mmseg_and_scores_miou_100_with_gt(cityscapes_root):
    from mmseg.datasets import CityscapesDataset
    from mmseg.evaluation import IoUMetric
    from mmseg.registry import DATASETS, METRICS

    init_default_scope("mmseg")
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"),
                dict(type="PackSegInputs")]
    seen = set()
    for split, n in (("train", 4), ("val", 2)):
        ds = DATASETS.build(dict(type="CityscapesDataset", data_root=cityscapes_root,
                                 data_prefix=dict(img_path=f"leftImg8bit/{split}",
                                                  seg_map_path=f"gtFine/{split}"),
                                 pipeline=pipeline))
        assert isinstance(ds, CityscapesDataset) and len(ds) == n
        assert ds.metainfo["classes"] == CLASSES
        for i in range(n):
            item = ds[i]
            gt = item["data_samples"].gt_sem_seg.data
            assert item["inputs"].shape == (3, 128, 256) and gt.shape == (1, 128, 256)
            values = set(gt.unique().tolist())
            assert values <= set(range(19)) | {IGNORE} and IGNORE in values
            seen |= values
    for name in ("road", "sidewalk", "building", "sky", "car", "person", "pole"):
        assert TRAIN_IDS[name] in seen, name
    metric = METRICS.build(dict(type="PerClassIoUMetric", iou_metrics=["mIoU"]))
    assert isinstance(metric, IoUMetric)
    metric.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        sample = ds[i]["data_samples"]
        gt = sample.gt_sem_seg.data
        metric.process({}, [dict(pred_sem_seg=dict(data=gt.clone()), gt_sem_seg=dict(data=gt))])
    scores = metric.evaluate(len(ds))
    assert scores["mIoU"] == 100.0 and scores["aAcc"] == 100.0
    assert scores["IoU.road"] == 100.0 and np.isnan(scores["IoU.train"])  # no train in GT


def test_raw_label_ids_are_refused_naming_the_file(tmp_path):
    from lzu.apis.data_check import DataError, check_data
    from lzu.apis.runtime import load_config
    from lzu.data.synthetic import write_synthetic_cityscapes

    root = str(tmp_path / "cityscapes")
    write_synthetic_cityscapes(root, train_frames=2, val_frames=1, size=(64, 128))
    cfg = load_config(osp.join(ROOT, "configs/seg/fcn_r50-d8_uniform_64x64.py"), data_root=root)
    assert check_data(cfg) is cfg
    first = sorted(Path(root, "gtFine", "train").rglob("*.png"))[0]
    label = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    label[:4, :4] = 33  # a raw Cityscapes id (bicycle), not a train id
    cv2.imwrite(str(first), label)
    with pytest.raises(DataError, match=rf"'{first}' \(train_dataloader\) holds value\(s\) 33.*"
                                        "labelTrainIds"):
        check_data(cfg)
    val_label = sorted(Path(root, "gtFine", "val").rglob("*.png"))[0]
    val_label.unlink()
    with pytest.raises(DataError, match=rf"1 of 1 label maps .*\n  {val_label}\n"):
        check_data(cfg, splits=("val",))


def test_small_objects_stand_near_the_horizon():
    from lzu.data.synthetic.cityscapes_writer import render_frame

    rng = np.random.default_rng(0)
    rows = []
    for _ in range(6):
        _, label = render_frame(rng, 256, 512)
        sky_bottom = np.nonzero((label == TRAIN_IDS["sky"]).any(axis=1))[0].max()
        car_rows = np.nonzero((label == TRAIN_IDS["car"]).any(axis=1))[0]
        rows.append(car_rows.min() - sky_bottom)
    # cars reach up to within a few pixels of the horizon in most frames
    assert np.median(rows) < 0.1 * 256


def test_boundary_map_excludes_the_ignore_label():
    label = np.array([[0, 0, 1, 1],
                      [0, 0, 1, 1],
                      [255, 255, 255, 1]], np.uint8)
    expected = np.array([[0, 1, 1, 0],
                         [0, 1, 1, 0],
                         [0, 0, 0, 0]], bool)
    assert np.array_equal(boundary_map(label), expected)


def write_labels(folder, labels):
    os.makedirs(folder, exist_ok=True)
    for i, label in enumerate(labels):
        cv2.imwrite(osp.join(folder, f"c_{i:06d}_000019_gtFine_labelTrainIds.png"), label)


def test_boundary_saliency_tool_known_answer_and_never_overwrites(tmp_path):
    # map A: left half 0, right half 1 -> columns 3 and 4 are boundaries in every row;
    # map B: 0 and the ignore label -> no boundary at all. Frequency 0.5 on columns 3-4.
    a = np.zeros((4, 8), np.uint8)
    a[:, 4:] = 1
    b = np.zeros((4, 8), np.uint8)
    b[:, 4:] = IGNORE
    write_labels(tmp_path / "labels" / "city", [a, b])
    out = tmp_path / "saliency.pkl"
    made = run_tool(["tools/make_saliency.py", "--seg-labels", str(tmp_path / "labels"),
                     "--grid-shape", "2", "4", "--out", str(out)])
    assert made.returncode == 0, made.stderr[-2000:]
    # 2x2-pixel cells: column pairs (0,1) (2,3) (4,5) (6,7) have means 0, .25, .25, 0
    expected = torch.tensor([[0.0, 0.25, 0.25, 0.0], [0.0, 0.25, 0.25, 0.0]])[None, None]
    torch.testing.assert_close(load_saliency(str(out), (2, 4)), expected)
    before = out.read_bytes()
    again = run_tool(["tools/make_saliency.py", "--seg-labels", str(tmp_path / "labels"),
                      "--grid-shape", "2", "4", "--out", str(out)])
    assert again.returncode != 0 and "exists and is kept" in again.stderr
    assert out.read_bytes() == before
    # the default grid is square, and it is the zoom's format
    default = tmp_path / "square.pkl"
    assert run_tool(["tools/make_saliency.py", "--seg-labels", str(tmp_path / "labels"),
                     "--out", str(default)]).returncode == 0
    FixedGrid(str(default), output_shape=(64, 64), grid_shape=(32, 32))


def test_boundary_saliency_names_a_bad_label_map(tmp_path):
    from lzu.data.saliency_boundary import LabelMapError

    folder = tmp_path / "labels"
    write_labels(folder, [np.zeros((4, 8), np.uint8), np.zeros((6, 8), np.uint8)])
    paths = sorted(str(p) for p in folder.iterdir())
    with pytest.raises(LabelMapError, match="c_000001.*one frequency map needs maps of one size"):
        boundary_saliency(paths, (2, 2))
    cv2.imwrite(paths[1], np.zeros((4, 8, 3), np.uint8))
    with pytest.raises(LabelMapError, match="c_000001.*single-channel"):
        boundary_saliency(paths, (2, 2))
    result = run_tool(["tools/make_saliency.py", "--seg-labels", str(tmp_path / "nothing"),
                       "--out", str(tmp_path / "s.pkl")])
    assert result.returncode != 0 and "does not exist" in result.stderr


# ------------------------------------------------------------------ configs and tools


SIZES = (64, 128, 256, 512)


@pytest.mark.parametrize("size", SIZES)
def test_seg_configs_differ_only_in_the_square_size(size):
    lzu_cfg = Config.fromfile(osp.join(ROOT, f"configs/seg/lzu_fcn_r50-d8_{size}x{size}.py"))
    uni = Config.fromfile(osp.join(ROOT, f"configs/seg/fcn_r50-d8_uniform_{size}x{size}.py"))
    assert lzu_cfg.model.type == "LZUEncoderDecoder" and uni.model.type == "EncoderDecoder"
    assert tuple(lzu_cfg.model.grid_generator.output_shape) == (size, size)
    assert [t for t in uni.test_pipeline if t.type == "Resize"] == [
        dict(type="Resize", scale=(size, size), keep_ratio=False)]
    assert tuple(uni.model.data_preprocessor.size) == (size, size)
    for cfg in (lzu_cfg, uni):
        assert cfg.val_dataloader.dataset.pipeline == cfg.test_pipeline
        assert cfg.train_dataloader.dataset.data_root == "data/cityscapes/"
        types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
        assert "RandomCrop" not in types and "RandomFlip" in types  # whole frames
        assert cfg.val_evaluator.type == "PerClassIoUMetric"
    assert not any(t.type == "Resize" for t in lzu_cfg.train_dataloader.dataset.pipeline)


def test_seg_config_builds_and_checks_its_data(cityscapes_root, tmp_path):
    from lzu.apis.data_check import DataError, check_data
    from lzu.apis.runtime import build_model, load_config

    saliency = tmp_path / "s.pkl"
    assert run_tool(["tools/make_saliency.py", "--seg-labels",
                     osp.join(cityscapes_root, "gtFine", "train"), "--out", str(saliency)]
                    ).returncode == 0
    cfg = load_config(osp.join(ROOT, "configs/seg/lzu_fcn_r50-d8_64x64.py"),
                      {"model.grid_generator.saliency_file": str(saliency)}, cityscapes_root)
    assert check_data(cfg) is cfg
    model = build_model(cfg)
    assert type(model).__name__ == "LZUEncoderDecoder" and model.output_shape == (64, 64)
    missing = load_config(osp.join(ROOT, "configs/seg/fcn_r50-d8_uniform_64x64.py"),
                          data_root=str(tmp_path / "elsewhere"))
    with pytest.raises(DataError, match="make_synthetic_cityscapes"):
        check_data(missing)


def test_seg_demo_in_miniature(tmp_path):
    """`sh run.sh demo seg` with 2 iterations per model on 2+1 frames: table, metrics, PNG."""
    work = tmp_path / "demo_seg"
    result = run_tool(["tools/demo_seg.py", "--work-dir", str(work), "--iters", "2",
                       "--frames", "2", "1"])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    results = json.loads((work / "demo_results.json").read_text())
    assert set(results["results"]) == {"uniform", "LZU"}
    for label in ("uniform", "LZU"):
        assert set(results["results"][label]) == {"mIoU", "mAcc", "aAcc"}
        assert 0.0 <= results["results"][label]["mIoU"] <= 100.0
        assert set(results["small_class_iou"][label]) >= {"pole", "person", "car"}
    table = (work / "demo_results.md").read_text()
    assert "| uniform |" in table and "| LZU |" in table and "mIoU" in table
    assert "| uniform |" in result.stdout
    with Image.open(work / "demo_seg.png") as im:
        assert im.format == "PNG" and im.size[0] > 1000


# ------------------------------------------------------------------ run.sh experiments


def load_run_experiment():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "run_experiment", osp.join(ROOT, "tools", "run_experiment.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_sh_lists_and_accepts_task_experiments_only():
    help_text = subprocess.run(["sh", "run.sh", "--help"], cwd=ROOT, capture_output=True,
                               text=True).stdout
    for name in ("seg/lzu_fcn_r50-d8_128x128", "seg/fcn_r50-d8_uniform_512x512",
                 "det2d/lzu_fcos_0.50", "lzu_fcos3d_0.75"):
        assert f"  {name}\n" in help_text
    assert "seg/demo" not in help_text and "_base_" not in help_text
    for name in ("seg/_base_/lzu_fcn_r50-d8", "seg/demo/lzu_fcn_demo", "nothing/lzu_fcos3d_0.25"):
        result = subprocess.run(["sh", "run.sh", name], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 2 and "unknown command or experiment" in result.stderr


def test_seg_experiment_without_data_names_the_root_and_the_generator(tmp_path):
    env = dict(os.environ, LZU_PYTHON=sys.executable, DATA_ROOT=str(tmp_path / "cityscapes"),
               WORK_DIR=str(tmp_path / "work"), PYTHONWARNINGS="ignore")
    result = subprocess.run(["sh", "run.sh", "seg/lzu_fcn_r50-d8_64x64"], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"data root '{tmp_path}/cityscapes/' does not exist" in result.stderr
    assert "make_synthetic_cityscapes" in result.stderr


def test_seg_experiment_builds_its_boundary_saliency_under_the_data_root(cityscapes_root,
                                                                         monkeypatch):
    tool = load_run_experiment()
    monkeypatch.delenv("SALIENCY", raising=False)
    config = "configs/seg/lzu_fcn_r50-d8_64x64.py"
    assert tool.config_data_root(config) == "data/cityscapes"
    opts = tool.ensure_saliency(config, cityscapes_root, [])
    path = osp.join(cityscapes_root, "saliency_boundary.pkl")
    assert opts == ["--cfg-options", cfg_option("model.grid_generator.saliency_file", path)]
    built = load_saliency(path, (32, 32))
    paths = sorted(str(p) for p in Path(cityscapes_root, "gtFine", "train").rglob("*.png"))
    torch.testing.assert_close(built, boundary_saliency(paths, (32, 32)))
    before = os.path.getmtime(path)
    tool.ensure_saliency(config, cityscapes_root, [])  # reused, never rebuilt
    assert os.path.getmtime(path) == before


def test_make_saliency_takes_the_image_size_from_a_coco_json(tmp_path):
    x = 400 * 30 / 47  # centre on grid node (13, 30) of a 400x200 image (48 x 27 nodes)
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 400, "height": 200},
                   {"id": 2, "file_name": "b.jpg", "width": 400, "height": 200}],
        "annotations": [{"id": 1, "image_id": 1, "bbox": [x - 20, 90, 40, 20], "category_id": 1,
                         "area": 800, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "car"}]}))
    result = run_tool(["tools/make_saliency.py", "--coco", str(ann), "--out",
                       str(tmp_path / "s.pkl")])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "images of 400x200" in result.stdout
    s = load_saliency(str(tmp_path / "s.pkl"), (27, 48))[0, 0]
    r, c = np.unravel_index(int(s.argmax()), s.shape)
    assert (r, c) == (13, 30)  # with nuScenes' 1600x900 it would be node (3, 8)


@pytest.mark.slow
def test_run_sh_seg_experiment_trains_and_evaluates(cityscapes_root, tmp_path):
    """`sh run.sh seg/lzu_fcn_r50-d8_64x64` on the tiny set for 2 iterations."""
    tiny = ["model.pretrained=None", "train_cfg.max_iters=2", "train_cfg.val_interval=2",
            *[f"{s}_dataloader.{k}" for s in ("train", "val", "test")
              for k in ("num_workers=0", "persistent_workers=False")]]
    env = dict(os.environ, LZU_PYTHON=sys.executable, DATA_ROOT=cityscapes_root,
               WORK_DIR=str(tmp_path / "work"), SALIENCY=str(tmp_path / "s.pkl"),
               PYTHONWARNINGS="ignore")
    result = subprocess.run(["sh", "run.sh", "seg/lzu_fcn_r50-d8_64x64", "--cfg-options", *tiny],
                            cwd=ROOT, capture_output=True, text=True, env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "is missing: building it" in out and (tmp_path / "s.pkl").is_file()
    metrics = json.loads((tmp_path / "work" / "seg" / "lzu_fcn_r50-d8_64x64"
                          / "metrics_iter_2.json").read_text())
    assert set(metrics["summary"]) == {"mIoU", "mAcc", "aAcc"}
    assert "IoU.pole" in metrics["metrics"]


@pytest.mark.parametrize("config, source", [
    ("configs/lzu_fcos3d_0.25.py", ["--infos", "/d/nuscenes_infos_train.pkl"]),
    ("configs/det2d/lzu_fcos_0.50.py", ["--coco", "/d/Argoverse-HD/annotations/train.json"]),
    ("configs/seg/lzu_fcn_r50-d8_256x256.py", ["--seg-labels", "/d/gtFine/train"]),
])
def test_each_task_builds_its_saliency_from_its_own_training_set(config, source):
    from lzu.apis.runtime import load_config

    tool = load_run_experiment()
    cmd = tool.saliency_command(load_config(osp.join(ROOT, config)), "/d", "/o.pkl")
    grid = ["32", "32"] if "/seg/" in config else ["27", "48"]
    assert cmd[1:] == ["tools/make_saliency.py", *source, "--grid-shape", *grid, "--out", "/o.pkl"]


def test_visualize_zoom_draws_a_segmentors_features(cityscapes_root, tmp_path):
    saliency = tmp_path / "s.pkl"
    assert run_tool(["tools/make_saliency.py", "--seg-labels",
                     osp.join(cityscapes_root, "gtFine", "train"), "--out", str(saliency)]
                    ).returncode == 0
    image = sorted(Path(cityscapes_root, "leftImg8bit", "val").rglob("*.png"))[0]
    out = tmp_path / "vis.png"
    result = run_tool(["tools/visualize_zoom.py", "configs/seg/demo/lzu_fcn_demo.py", "--image",
                       str(image), "--out", str(out), "--features", "--level", "3",
                       "--cfg-options", f"model.grid_generator.saliency_file={saliency}"])
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[1] > 1000
