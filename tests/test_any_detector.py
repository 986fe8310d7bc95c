"""LZU on any detector: the plain-PyTorch wrapper, the mmdet/mmdet3d mixin, the 2-D path."""

import json
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT
from det2d_fixtures import UNIFORM, asymmetric_saliency, build_pair, det_samples, identity

import lzu.openmmlab  # noqa: F401  (registers the detectors and the dataset)
from lzu.apis.runtime import build_model, load_config
from lzu.core.fixed_grid import FixedGrid
from lzu.core.wrapper import LZU

FAMILIES = ("fcos", "retinanet", "faster_rcnn")


# ------------------------------------------------------ the plain-PyTorch wrapper


@pytest.fixture(scope="module")
def tv_backbone():
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    torch.manual_seed(0)
    return resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5).eval()


def test_wrapper_on_a_torchvision_resnet_fpn_equals_the_resized_image(tv_backbone):
    """Uniform saliency: unzoom(backbone(zoom(x))) == backbone(grid_sample-resized x)."""
    net = tv_backbone.double()
    lzu = LZU(FixedGrid(UNIFORM, output_shape=(96, 160)), pad_size_divisor=32)
    img = torch.randn(2, 3, 180, 320, dtype=torch.float64)
    with torch.no_grad():
        zoomed, state = lzu.zoom(img)
        feats = lzu.unzoom(net(zoomed), state)
        ref = net(F.grid_sample(img, identity(96, 160, 2, torch.float64), align_corners=True))
    assert list(feats) == list(ref) and state.scales == [(0.5, 96 / 180)] * 2
    for k in ref:
        torch.testing.assert_close(feats[k], ref[k], atol=1e-5 * ref[k].abs().max().item(), rtol=0)


@pytest.mark.parametrize("output_shape", [(96, 96), (240, 400), (64, 256)])
def test_each_image_of_a_mixed_batch_equals_itself_alone(output_shape):
    """Images of different sizes padded into one batch: each gets its own region's zoom."""
    lzu = LZU(FixedGrid(asymmetric_saliency(), output_shape=output_shape), pad_size_divisor=8)
    a, b = torch.rand(1, 3, 120, 200), torch.rand(1, 3, 90, 160)
    batch = torch.zeros(2, 3, 120, 200)
    batch[0], batch[1, :, :90, :160] = a[0], b[0]
    zoomed, state = lzu.zoom(batch, image_shapes=[(120, 200), (90, 160)])
    alone_a, _ = lzu.zoom(a)
    alone_b, state_b = lzu.zoom(b)
    torch.testing.assert_close(zoomed[0], alone_a[0], atol=5e-5, rtol=0)
    torch.testing.assert_close(zoomed[1], alone_b[0], atol=5e-5, rtol=0)
    assert state.scales[1] == state_b.scales[0] == (output_shape[1] / 160, output_shape[0] / 90)
    feats = [F.avg_pool2d(zoomed, 8)]
    torch.testing.assert_close(lzu.unzoom(feats, state)[0][1],
                               lzu.unzoom([F.avg_pool2d(alone_b, 8)], state_b)[0][0])


def test_a_flipped_image_gets_the_flipped_zoom_and_unzoom():
    lzu = LZU(FixedGrid(asymmetric_saliency(), output_shape=(64, 112)), pad_size_divisor=16)
    img = torch.rand(1, 3, 90, 160)
    zoomed, state = lzu.zoom(img)
    zoomed_f, state_f = lzu.zoom(img.flip(-1), flips=["horizontal"])
    torch.testing.assert_close(zoomed_f, zoomed.flip(-1), atol=2e-4, rtol=0)
    feats = torch.rand(1, 4, 16, 28)  # (64, 112) padded to 16: no padding, one level
    torch.testing.assert_close(lzu.unzoom(feats.flip(-1), state_f), lzu.unzoom(feats, state).flip(-1),
                               atol=2e-4, rtol=0)
    # ignoring the flip (the paper's choice) gives a different, wrong zoom
    ignored = LZU(lzu.grid_generator, follow_flips=False, pad_size_divisor=16)
    assert (ignored.zoom(img.flip(-1), flips=["horizontal"])[0] - zoomed.flip(-1)).abs().max() > 0.05


# ------------------------------------------------------ OpenMMLab: every 2-D detector


@pytest.mark.parametrize("family", FAMILIES)
def test_uniform_saliency_lzu_equals_the_detector_on_the_resized_image(family):
    plain, lzu = build_pair(family)
    torch.manual_seed(1)
    imgs = torch.randn(1, 3, 192, 320) * 50
    resized = F.grid_sample(imgs.double(), identity(96, 160, 1, torch.float64), align_corners=True)
    with torch.no_grad():
        f_lzu = lzu.double().extract_feat(imgs.double())
        f_plain = plain.double().extract_feat(resized)
        for a, b in zip(f_lzu, f_plain, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5 * b.abs().max().item(), rtol=0)
        lzu.float()
        plain.float()
        out_lzu = lzu.predict(imgs, det_samples(192, 320, 1))[0].pred_instances
        plain_samples = det_samples(96, 160, 1)
        plain_samples[0].set_metainfo(dict(scale_factor=(0.5, 0.5), ori_shape=(192, 320)))
        out_plain = plain.predict(resized.float(), plain_samples)[0].pred_instances
    assert len(out_plain.scores) > 0
    k = min(5, len(out_plain.scores))  # float32 NMS (mmcv has no float64 CPU NMS)
    torch.testing.assert_close(out_lzu.scores[:k], out_plain.scores[:k], atol=1e-3, rtol=1e-3)
    # boxes to 1e-3 of the image size (0.3 px)
    torch.testing.assert_close(out_lzu.bboxes[:k], out_plain.bboxes[:k], atol=1e-3 * 320, rtol=0)
    assert (out_lzu.bboxes[:, 2] <= 320 + 1e-3).all(), "rescale=True: original image coordinates"


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_is_finite_with_backbone_gradients(family):
    _, lzu = build_pair(family, output_shape=(96, 160))
    lzu.grid_generator.saliency.copy_(asymmetric_saliency())
    lzu.grid_generator._cache.clear()
    lzu.train()
    losses = lzu.loss(torch.randn(2, 3, 192, 320) * 50, det_samples(192, 320, 2, with_gt=True))
    total = sum(v.sum() for k, v in losses.items() if "loss" in k for v in ([v] if torch.is_tensor(v) else v))
    assert torch.isfinite(total) and total > 0
    total.backward()
    grads = [p.grad for p in lzu.backbone.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("output_shape", [(300, 180), (64, 256)])  # upsampling y / anisotropic
def test_anisotropic_and_upsampling_zooms_move_gt_and_metainfo_consistently(output_shape):
    _, lzu = build_pair("fcos", output_shape=output_shape)
    samples = det_samples(192, 320, 1, with_gt=True)
    before = samples[0].gt_instances.bboxes.clone()
    lzu.to_head_frame(samples, with_gt=True)
    sx, sy = output_shape[1] / 320, output_shape[0] / 192
    meta = samples[0].metainfo
    assert meta["img_shape"] == output_shape and meta["scale_factor"] == (sx, sy)
    after = samples[0].gt_instances.bboxes
    torch.testing.assert_close(after / after.new_tensor([sx, sy, sx, sy]), before)
    lzu.to_head_frame(samples, with_gt=True)  # idempotent
    torch.testing.assert_close(samples[0].gt_instances.bboxes, after)


def test_anisotropic_zoom_moves_cam2img_and_centers_2d_together():
    from mono3d_fixtures import make_sample, project

    from lzu.openmmlab.detector_mixin import scale_metainfo

    sample = make_sample((180, 320))
    centers3d = sample.gt_instances_3d.bboxes_3d.gravity_center.numpy()
    scale_metainfo(sample, (0.75, 1.5), (270, 240), (272, 240), with_gt=True)
    reprojected = project(centers3d, sample.metainfo["cam2img"])
    np.testing.assert_allclose(reprojected, sample.gt_instances_3d.centers_2d.numpy(), atol=1e-3)


def test_pgd_config_builds_and_runs_loss_and_predict():
    from mono3d_fixtures import make_batch

    cfg = load_config(osp.join(ROOT, "configs", "pgd", "lzu_pgd_r101_nus-mono3d_0.50.py"))
    cfg.model.grid_generator.update(saliency_file=osp.join(ROOT, "saliency.pkl"), output_shape=(96, 160))
    cfg.model.backbone.update(depth=18, dcn=None, stage_with_dcn=(False,) * 4, style="pytorch",
                              frozen_stages=-1, norm_cfg=dict(type="BN", requires_grad=True))
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    model = build_model(cfg)
    assert type(model).__name__ == "LZUFCOSMono3D" and type(model.bbox_head).__name__ == "PGDHead"
    model.train()
    inputs, samples = make_batch((180, 320), batch=1)
    losses = model.loss(inputs, samples)
    assert all(torch.isfinite(v).all() for k, v in losses.items() if "loss" in k)
    model.eval()
    inputs, samples = make_batch((180, 320), batch=1, with_gt=False)
    with torch.no_grad():
        pred = model.predict(inputs, samples)[0].pred_instances_3d
    assert torch.isfinite(pred.bboxes_3d.tensor).all()


# ------------------------------------------------------ 2-D data: Argoverse-HD layout, COCO AP


def test_argoverse_hd_set_loads_in_mmdet_and_gt_scores_ap_1(synthetic_root, tmp_path):
    from mmdet.registry import DATASETS, METRICS
    from mmengine.registry import init_default_scope

    from lzu.data.argoverse_hd import write_argoverse_hd_from_nuscenes

    counts = write_argoverse_hd_from_nuscenes(synthetic_root, str(tmp_path))
    assert counts["val"][1] > 0
    cfg = load_config(osp.join(ROOT, "configs", "det2d", "lzu_fcos_0.50.py"), data_root=str(tmp_path))
    init_default_scope("mmdet")
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(dataset) == counts["val"][0]
    metric = METRICS.build(dict(cfg.val_evaluator, outfile_prefix=str(tmp_path / "r")))
    metric.dataset_meta = dataset.metainfo
    gt = json.loads((tmp_path / "Argoverse-HD" / "annotations" / "val.json").read_text())
    assert sum(len(dataset.get_data_info(i)["instances"]) for i in range(len(dataset))) == len(
        gt["annotations"])
    results = []
    for img in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
        results.append(dict(img_id=img["id"], ori_shape=(img["height"], img["width"]),
                            pred_instances=dict(bboxes=boxes, scores=torch.ones(len(anns)),
                                                labels=torch.tensor([a["category_id"] for a in anns],
                                                                    dtype=torch.long))))
    metric.process([], results)
    out = metric.evaluate(len(results))
    assert out["coco/bbox_mAP"] == pytest.approx(1.0)
    assert out["coco/bbox_mAP_50"] == pytest.approx(1.0)
