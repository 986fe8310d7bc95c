"""FOVEA's box unwarping on mmdet detectors (lzu.openmmlab.fovea_mixin)."""

import pytest
import torch
import torch.nn.functional as F
from det2d_fixtures import UNIFORM, assert_close_rel, asymmetric_saliency, det_samples, identity
from det2d_fixtures import build_pair as build_detector_pair

import lzu.openmmlab  # noqa: F401  (registers the detectors)
from lzu.core.box_warp import warp_boxes
from lzu.openmmlab.frame_movers import UnmovableGeometryError

FAMILIES = ("fcos", "faster_rcnn")


def build_pair(family, saliency=UNIFORM):
    # FOVEA's Faster R-CNN trains on FOVEA's path; its config at LZU's zoom is the one here
    if family != "faster_rcnn":
        return build_detector_pair(family, method="fovea", saliency=saliency)
    plain, fovea = build_detector_pair(family, method="fovea_lzugrid", saliency=saliency)
    plain.rpn_head.test_cfg.min_bbox_size = -1  # FOVEA keeps empty proposals (mmdet 2.7's rule)
    return plain, fovea


@pytest.mark.parametrize("family", FAMILIES)
def test_uniform_saliency_fovea_equals_the_detector_on_the_resized_image(family):
    """The zoom is a resize and the unwarp a rescale: same boxes as the uniform detector."""
    plain, fovea = build_pair(family)
    torch.manual_seed(1)
    imgs = torch.randn(1, 3, 192, 320) * 50
    resized = F.grid_sample(imgs, identity(96, 160, 1), align_corners=True)
    with torch.no_grad():
        samples = det_samples(192, 320, 1)
        out = fovea.predict(imgs, samples)[0]
        plain_samples = det_samples(96, 160, 1)
        plain_samples[0].set_metainfo(dict(scale_factor=(0.5, 0.5), ori_shape=(192, 320)))
        ref = plain.predict(resized, plain_samples)[0].pred_instances
    got = out.pred_instances
    assert len(ref.scores) > 0
    k = min(5, len(ref.scores))
    # float32: features agree to 4e-5 (the uniform grid is the identity to 1e-7), which an
    # untrained RPN's proposals turn into score differences of a few 1e-3
    torch.testing.assert_close(got.scores[:k], ref.scores[:k], atol=5e-3, rtol=0)
    torch.testing.assert_close(got.bboxes[:k], ref.bboxes[:k], atol=1e-3 * 320, rtol=0)
    # the sample is back in the input frame
    assert out.metainfo["img_shape"] == (192, 320) and not out.metainfo["lzu_zoomed"]


@pytest.mark.usefixtures("nms_any_dtype")
@pytest.mark.parametrize("family", ["fcos"])  # Faster R-CNN: tests/test_fovea_training.py
def test_uniform_saliency_fovea_loss_equals_the_detector_on_the_resized_image(family):
    """Float64 (float32 rounding in train-mode batch norm alone moves a loss by 3e-4)."""
    plain, fovea = build_pair(family)
    plain.double().train()
    fovea.double().train()
    torch.manual_seed(2)
    imgs = torch.randn(2, 3, 192, 320, dtype=torch.float64) * 50
    resized = F.grid_sample(imgs, identity(96, 160, 2, torch.float64), align_corners=True)
    plain_samples = det_samples(96, 160, 2, with_gt=True)
    for s in plain_samples:
        s.gt_instances.bboxes = s.gt_instances.bboxes.double() * 0.5
    torch.manual_seed(3)  # Faster R-CNN samples proposals at random
    ref = plain.loss(resized, plain_samples)
    torch.manual_seed(3)
    samples = det_samples(192, 320, 2, with_gt=True)
    for s in samples:
        s.gt_instances.bboxes = s.gt_instances.bboxes.double()
    got = fovea.loss(imgs, samples)
    assert ref.keys() == got.keys()
    for key in ref:
        if "loss" not in key:
            continue
        a, b = (sum(v) if isinstance(v, list) else v for v in (got[key], ref[key]))
        assert_close_rel(a, b)


def test_gt_boxes_enter_the_zoomed_frame_through_the_warp():
    _, fovea = build_pair("fcos", saliency=asymmetric_saliency())
    samples = det_samples(192, 320, 1, with_gt=True)
    before = samples[0].gt_instances.bboxes.clone()
    fovea.train()
    fovea.to_head_frame(samples, with_gt=True, imgs=torch.zeros(1, 3, 192, 320))
    coarse = fovea.grid_generator.grids("cpu", torch.float32)[1]
    expected = warp_boxes(before, coarse, (320, 192), (160, 96))
    torch.testing.assert_close(samples[0].gt_instances.bboxes, expected)
    assert samples[0].metainfo["img_shape"] == (96, 160)
    # not a plain rescale: the saliency magnifies the top right
    assert (expected - before * 0.5).abs().max() > 2.0
    fovea.to_head_frame(samples, with_gt=True, imgs=torch.zeros(1, 3, 192, 320))  # idempotent
    torch.testing.assert_close(samples[0].gt_instances.bboxes, expected)


def test_predicted_boxes_come_back_unwarped_into_the_original_image():
    _, fovea = build_pair("fcos", saliency=asymmetric_saliency())
    samples = det_samples(192, 320, 1)
    samples[0].set_metainfo(dict(scale_factor=(0.5, 0.5), ori_shape=(384, 640)))
    with torch.no_grad():
        out = fovea.predict(torch.randn(1, 3, 192, 320) * 50, samples)[0].pred_instances
    assert len(out.bboxes) > 0
    assert out.bboxes.min() >= -1e-3 and (out.bboxes[:, 2] <= 640 + 1e-3).all()
    assert (out.bboxes[:, 3] <= 384 + 1e-3).all()


def test_masks_are_refused_by_name():
    from mmdet.structures.mask import BitmapMasks

    _, fovea = build_pair("fcos")
    samples = det_samples(192, 320, 1, with_gt=True)
    samples[0].gt_instances.masks = BitmapMasks(torch.zeros(2, 192, 320).numpy(), 192, 320)
    fovea.train()
    with pytest.raises(UnmovableGeometryError, match="gt_instances.masks.*FoveaFCOS|FoveaFCOS.*gt_instances.masks"):
        fovea.loss(torch.randn(1, 3, 192, 320), samples)
