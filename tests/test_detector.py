"""LZUFCOSMono3D on mmdet3d 1.4: configs, equivalence with FCOS3D, metainfo, caches, checkpoints."""

import glob
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mono3d_fixtures import build_model, make_batch, project

from lzu.openmmlab.detector_mixin import scale_metainfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.py")))
NAMES = [os.path.basename(c)[:-3] for c in CONFIGS]


@pytest.fixture(scope="module")
def saliency_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("saliency")
    uniform = torch.full((1, 1, 27, 48), 1.0 / (27 * 48))
    rows = torch.exp(-0.5 * ((torch.arange(27.0) - 13) / 2.5) ** 2)[:, None].expand(27, 48)
    peaked = (0.3 / (27 * 48) + rows / rows.sum())[None, None]
    paths = {}
    for name, s in (("uniform", uniform), ("peaked", peaked / peaked.sum())):
        paths[name] = str(d / f"{name}.pkl")
        with open(paths[name], "wb") as f:
            pickle.dump(s, f)
    return paths


def build_lzu(saliency, output_shape, config="lzu_fcos3d_0.50", border=None):
    """LZU of a paper config with another saliency/output shape (and unzoom border, if given)."""
    from lzu.apis.runtime import load_config

    path = os.path.join(ROOT, "configs", f"{config}.py")
    grid_cfg = dict(
        load_config(path).model.grid_generator, saliency_file=saliency, output_shape=output_shape
    )
    overrides = dict(grid_generator=grid_cfg)
    if border is not None:
        overrides["unzoom_border"] = border
    model, cfg = build_model(path, **overrides)
    return model.eval(), cfg


def test_the_eight_experiments_exist():
    expected = [f"{p}fcos3d_{s}" for p in ("", "lzu_") for s in ("0.25", "0.50", "0.75", "1.00")]
    assert sorted(NAMES) == sorted(expected)


@pytest.mark.parametrize("config", CONFIGS, ids=NAMES)
def test_config_builds_with_paper_settings(config, saliency_files):
    name = os.path.basename(config)[:-3]
    scale = float(name.rsplit("_", 1)[1])
    overrides = {}
    if name.startswith("lzu"):
        from lzu.apis.runtime import load_config

        grid = load_config(config).model.grid_generator
        assert grid.output_shape == (round(900 * scale), round(1600 * scale))
        assert (grid.grid_shape, grid.separable, grid.attraction_fwhm, grid.anti_crop) == (
            (27, 48), True, 10, True)
        assert grid.saliency_file == "saliency.pkl"
        overrides["grid_generator"] = dict(grid, saliency_file=saliency_files["peaked"])
    model, cfg = build_model(config, **overrides)
    assert type(model).__name__ == ("LZUFCOSMono3D" if name.startswith("lzu") else "FCOSMono3D")
    assert type(model.bbox_head).__name__ == "FCOSMono3DHeadNoRescale"
    assert cfg.model.backbone.depth == 50
    assert cfg.model.backbone.dcn == dict(type="DCNv2", deform_groups=1, fallback_on_stride=False)
    assert cfg.model.backbone.stage_with_dcn == (False, False, True, True)
    pre = cfg.model.data_preprocessor
    assert (pre.mean, pre.std, pre.bgr_to_rgb) == ([103.530, 116.280, 123.675], [1.0, 1.0, 1.0], False)
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.optim_wrapper.optimizer.lr == 0.001
    # mmcv 1.x's norm rule, which mmengine leaves unset (tests/test_paper_optimizer.py)
    assert cfg.optim_wrapper.paramwise_cfg == dict(bias_lr_mult=2.0, bias_decay_mult=0.0,
                                                   norm_decay_mult=1.0)
    assert cfg.optim_wrapper.clip_grad.max_norm == 35
    warmup, steps = cfg.param_scheduler
    # the paper's warm-up reaches the base lr at iteration 500: mmengine's end=501
    assert (warmup.start_factor, warmup.end) == (1.0 / 3, 501)
    assert (steps.milestones, cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval) == ([8, 11], 12, 1)
    assert cfg.default_hooks.checkpoint.interval == 1
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert [p for p in pipeline if p.type == "RandomFlip3D"][0].flip_ratio_bev_horizontal == 0.5
    if not name.startswith("lzu"):
        size = (round(1600 * scale), round(900 * scale))
        for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            resize = [p for p in loader.dataset.pipeline if p.type == "Resize3D"]
            assert len(resize) == 1 and resize[0].scale == size


def test_uniform_saliency_lzu_equals_fcos3d_on_resized_image(saliency_files):
    """Uniform saliency: zoom = identity resampling, unzoom = identity.

    Run in float64 so that "float tolerance" is tight: the uniform grid equals
    the identity to ~1e-15, so features agree to ~1e-9 relative.
    """
    lzu, _ = build_lzu(saliency_files["uniform"], (90, 160), border="exact")
    plain, _ = build_model(os.path.join(ROOT, "configs", "_base_", "fcos3d_r50-dcn_nus-mono3d.py"))
    plain.load_state_dict(lzu.state_dict(), strict=True)
    lzu.double()
    plain.double().eval()
    inputs, samples = make_batch((180, 320), batch=2, with_gt=False)
    inputs["imgs"] = inputs["imgs"].double()
    imgs = inputs["imgs"]
    ys = torch.linspace(-1, 1, 90, dtype=torch.float64)
    xs = torch.linspace(-1, 1, 160, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    identity = torch.stack((gx, gy), -1)[None].expand(2, -1, -1, -1)
    resized = F.grid_sample(imgs, identity, align_corners=True)
    resized = F.pad(resized, (0, 0, 0, 96 - 90))
    with torch.no_grad():
        f_lzu = lzu.extract_feat(inputs)
        f_plain = plain.extract_feat({"imgs": resized})
        for a, b in zip(f_lzu, f_plain, strict=True):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, atol=1e-9 * b.abs().max().item(), rtol=1e-7)
        # dense head outputs (every class score, box and centerness) before NMS
        for a, b in zip(lzu.bbox_head(f_lzu), plain.bbox_head(f_plain), strict=True):
            for la, lb in zip(a, b, strict=True):
                torch.testing.assert_close(la, lb, atol=1e-9 * lb.abs().max().item(), rtol=1e-7)
        # the full predict path (float32: mmcv's rotated NMS is float32-only)
        lzu.float()
        plain.float()
        lzu.bbox_head.test_cfg.score_thr = 0.0
        plain.bbox_head.test_cfg.score_thr = 0.0
        inputs["imgs"] = imgs.float()
        out_lzu = lzu.predict(inputs, samples)
        _, plain_samples = make_batch((180, 320), batch=2, with_gt=False)
        for s in plain_samples:
            scale_metainfo(s, 0.5, (90, 160), (96, 160), with_gt=False)
        out_plain = plain.predict({"imgs": resized.float()}, plain_samples)
    for a, b in zip(out_lzu, out_plain, strict=True):
        pa, pb = a.pred_instances_3d, b.pred_instances_3d
        assert len(pa.bboxes_3d) > 0
        top_a, top_b = pa.scores_3d.argsort(descending=True)[:20], pb.scores_3d.argsort(descending=True)[:20]
        torch.testing.assert_close(pa.scores_3d[top_a], pb.scores_3d[top_b], atol=1e-4, rtol=1e-3)
        torch.testing.assert_close(
            pa.bboxes_3d.tensor[top_a], pb.bboxes_3d.tensor[top_b], atol=1e-3, rtol=1e-3
        )


def test_metainfo_moves_to_the_zoomed_frame_and_gt_still_projects():
    _, samples = make_batch((180, 320), batch=1)
    sample = samples[0]
    k_before = np.array(sample.metainfo["cam2img"])
    boxes_before = sample.gt_instances.bboxes.clone()
    scale_metainfo(sample, 0.75, (135, 240), (160, 256), with_gt=True)
    meta = sample.metainfo
    assert meta["img_shape"] == (135, 240) and meta["pad_shape"] == (160, 256)
    assert meta["batch_input_shape"] == (160, 256) and meta["scale_factor"] == (0.75, 0.75)
    k = np.array(meta["cam2img"])
    np.testing.assert_allclose(k[:2], k_before[:2] * 0.75)
    np.testing.assert_allclose(k[2], k_before[2])
    torch.testing.assert_close(sample.gt_instances.bboxes, boxes_before * 0.75)
    gt3d = sample.gt_instances_3d
    reprojected = project(gt3d.bboxes_3d.gravity_center.numpy(), k)
    assert np.abs(reprojected - gt3d.centers_2d.numpy()).max() < 1.0
    # a second call must not scale again
    scale_metainfo(sample, 0.75, (135, 240), (160, 256), with_gt=True)
    np.testing.assert_allclose(np.array(sample.metainfo["cam2img"]), k)


def test_lzu_loss_and_predict(saliency_files):
    model, _ = build_lzu(saliency_files["peaked"], (135, 240))
    model.train()
    inputs, samples = make_batch((180, 320), batch=2)
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total) and total > 0
    total.backward()
    # the paper's frozen stem gets no gradient; a trainable backbone layer gets a finite, non-zero one
    assert not model.backbone.conv1.weight.requires_grad and model.backbone.conv1.weight.grad is None
    trained = model.backbone.layer4[-1].conv1.weight
    assert trained.requires_grad and trained.grad is not None
    assert torch.isfinite(trained.grad).all() and trained.grad.abs().sum() > 0
    assert model.neck.fpn_convs[0].conv.weight.grad.abs().sum() > 0
    assert samples[0].metainfo["scale_factor"] == (0.75, 0.75)

    model.eval()
    model.bbox_head.test_cfg.score_thr = 0.0
    inputs, samples = make_batch((180, 320), batch=1, with_gt=False)
    with torch.no_grad():
        pred = model.predict(inputs, samples)[0].pred_instances_3d
    assert len(pred.bboxes_3d) > 0
    assert type(pred.bboxes_3d).__name__ == "CameraInstance3DBoxes"
    assert torch.isfinite(pred.bboxes_3d.tensor).all()
    assert (pred.bboxes_3d.tensor[:, 2] > 0).all(), "camera-frame depth must be positive"


def test_grid_caches_follow_the_input_shape(saliency_files):
    model, _ = build_lzu(saliency_files["peaked"], (90, 160))
    cache = model.lzu._inverse_cache
    with torch.no_grad():
        feats = model.extract_feat(make_batch((180, 320), batch=1)[0])
        assert len(cache) == len(feats)
        model.extract_feat(make_batch((180, 320), batch=2)[0])
        assert len(cache) == len(feats), "batch size must not invalidate the cache"
        model.grid_generator.output_shape = (120, 200)
        feats = model.extract_feat(make_batch((240, 400), batch=1)[0])
    assert len(cache) == 2 * len(feats)
    new = {k[0]: v for k, v in cache.items() if k[1] == (120, 200)}
    assert sorted(new) == sorted(tuple(f.shape[-2:]) for f in feats)
    assert all(tuple(v.shape[1:3]) == k for k, v in new.items())
    # the zoomed image follows the new output_shape (120 x 200, padded to 128 x 224)
    assert feats[0].shape[-2:] == (128 // 8, 224 // 8)


def test_bad_output_shape_is_reported(saliency_files):
    model, _ = build_lzu(saliency_files["peaked"], (200, 400))
    with pytest.raises(ValueError, match="larger than the input image"):
        model.zoom_scale((180, 320))
    model.grid_generator.output_shape = (120, 160)
    with pytest.raises(ValueError, match="aspect ratio"):
        model.zoom_scale((180, 320))
    model.lzu.region = "image"  # any size and aspect ratio
    assert model.zoom_scale((180, 320)) == (0.5, 120 / 180)


def _paper_checkpoint(state_dict, path):
    """A checkpoint in the layout mmcv-full 1.x / mmdet3d 1.0.0rc6 wrote."""
    meta = dict(
        mmcv_version="1.7.0",
        mmdet_version="2.28.1",
        mmdet3d_version="1.0.0rc6",
        config="model = dict(type='LZUFCOSMono3D')\n",
        CLASSES=("car", "truck", "trailer", "bus", "construction_vehicle", "bicycle",
                 "motorcycle", "pedestrian", "traffic_cone", "barrier"),
        epoch=12,
        iter=42192,
        time="Sat Oct 15 02:39:08 2022",
        hook_msgs=dict(last_ckpt="work_dirs/lzu_fcos3d_0.75/epoch_12.pth"),
        seed=np.int64(0),
        best_score=np.float64(0.3317),
        mean=np.array([103.53, 116.28, 123.675], dtype=np.float32),
    )
    optimizer = dict(state={}, param_groups=[dict(lr=1e-5, momentum=0.9, params=[0, 1])])
    torch.save(dict(meta=meta, state_dict=OrderedDict(state_dict), optimizer=optimizer), path)


def test_paper_format_checkpoint_loads_strictly(tmp_path, saliency_files):
    from mmengine.runner import load_checkpoint

    source, _ = build_lzu(saliency_files["peaked"], (90, 160))
    path = str(tmp_path / "lzu_fcos3d_0.50.pth")
    _paper_checkpoint(source.state_dict(), path)
    target, _ = build_lzu(saliency_files["peaked"], (90, 160))
    ckpt = load_checkpoint(target, path, map_location="cpu", strict=True)
    assert ckpt["meta"]["mmcv_version"] == "1.7.0"
    for (k, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    # a checkpoint of another architecture fails loudly, naming the keys
    bad = OrderedDict((k.replace("bbox_head.", "head."), v) for k, v in source.state_dict().items())
    _paper_checkpoint(bad, path)
    with pytest.raises(RuntimeError, match="bbox_head"):
        load_checkpoint(target, path, map_location="cpu", strict=True)
