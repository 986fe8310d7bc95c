"""FOVEA's training and inference path (lzu.openmmlab.fovea_heads, gt_frame='original'),
checked against FOVEA's operators reimplemented here in float64 from their specification."""

import glob
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT
from det2d_fixtures import UNIFORM, assert_close_rel, asymmetric_saliency, det_samples, identity

import lzu.openmmlab  # noqa: F401  (registers the detectors and heads)
from lzu.apis.runtime import build_model, load_config
from lzu.core.box_warp import unwarp_boxes
from lzu.core.fovea_saliency import fovea_jitter, uniform_saliency
from lzu.core.zoom import saliency_to_grid
from lzu.openmmlab.fovea_heads import FOVEA_FRAME
from lzu.openmmlab.frame_movers import UnmovableGeometryError

H, W = 192, 320
ZOOMED = (96, 160)
FOVEA = "configs/det2d/fovea_lzugrid_faster_rcnn_0.50.py"
PLAIN = "configs/det2d/faster_rcnn_uniform_0.50.py"


def spec_unwarp(boxes, grid, zoomed_size, input_size):
    """FOVEA's ``unwarp_bboxes`` (spec 3.5) in float64 numpy: each corner normalised by the
    zoomed canvas, read bilinearly (align_corners=True, border clamp) in the full-resolution
    grid ``(1, H_z, W_z, 2)``, then scaled by the input size (not size - 1)."""
    g = grid[0].detach().double().numpy()
    gh, gw = g.shape[:2]
    (wz, hz), (wo, ho) = zoomed_size, input_size
    b = boxes.detach().double().numpy()
    out = b.copy()
    for cx, cy in ((0, 1), (2, 3)):
        ix = np.clip(b[:, cx] / wz, 0, 1) * (gw - 1)
        iy = np.clip(b[:, cy] / hz, 0, 1) * (gh - 1)
        x0 = np.clip(np.floor(ix).astype(int), 0, gw - 2)
        y0 = np.clip(np.floor(iy).astype(int), 0, gh - 2)
        fx, fy = ix - x0, iy - y0

        def at(c, x0=x0, y0=y0, fx=fx, fy=fy):
            return (g[y0, x0, c] * (1 - fx) * (1 - fy) + g[y0, x0 + 1, c] * fx * (1 - fy)
                    + g[y0 + 1, x0, c] * (1 - fx) * fy + g[y0 + 1, x0 + 1, c] * fx * fy)

        out[:, cx] = (at(0) + 1) / 2 * wo
        out[:, cy] = (at(1) + 1) / 2 * ho
    return torch.from_numpy(out)


def peaked_grid(shape=ZOOMED, dtype=torch.float64):
    coarse = saliency_to_grid(asymmetric_saliency().to(dtype), attraction_fwhm=10.0)
    return F.interpolate(coarse.permute(0, 3, 1, 2), size=shape, mode="bilinear",
                         align_corners=True).permute(0, 2, 3, 1)


def build(path, saliency=UNIFORM, **model):
    cfg = load_config(osp.join(ROOT, path))
    cfg.model.grid_generator.update(saliency_file=saliency, output_shape=ZOOMED)
    cfg.model.update(model)
    return build_model(cfg)


def giou_uniform():
    """The uniform Faster R-CNN with FOVEA's box losses and proposal settings."""
    cfg = load_config(osp.join(ROOT, PLAIN))
    m = cfg.model
    m.rpn_head.update(reg_decoded_bbox=True, loss_bbox=dict(type="GIoULoss", loss_weight=1.0))
    m.roi_head.bbox_head.update(reg_decoded_bbox=True,
                                loss_bbox=dict(type="GIoULoss", loss_weight=10.0))
    m.train_cfg.rpn_proposal.min_bbox_size = -1
    m.train_cfg.rcnn.sampler.add_gt_as_proposals = False
    m.test_cfg.rpn.min_bbox_size = -1
    return build_model(cfg)


# ------------------------------------------------------------ the unwarp operator


def test_unwarp_boxes_on_the_full_resolution_grid_is_foveas_unwarp():
    grid = peaked_grid()
    torch.manual_seed(0)
    xy = torch.rand(200, 2) * torch.tensor([170.0, 106.0]) - 5  # some off the canvas
    wh = torch.rand(200, 2) * 40
    boxes = torch.cat((xy, xy + wh), 1).double()
    got = unwarp_boxes(boxes, grid, ZOOMED[::-1], (W, H))
    ref = spec_unwarp(boxes, grid, ZOOMED[::-1], (W, H))
    torch.testing.assert_close(got, ref, atol=1e-9, rtol=0)
    # the saliency matters: a plain rescale is far off
    assert (ref - boxes * 2).abs().max() > 5


# ------------------------------------------------------------ inference


def test_predicted_boxes_land_where_foveas_unwarp_puts_them():
    """The RoI head's kept boxes (decoded, clipped and NMS'd in the zoomed frame) come back
    through FOVEA's unwarp with the sample's full-resolution grid, then ``scale_factor``."""
    model = build(FOVEA, saliency=asymmetric_saliency()).eval()
    assert model.gt_frame == "original"
    seen = {}
    predict = model.roi_head.predict

    def recording(x, proposals, samples, rescale=False):
        out = predict(x, proposals, samples, rescale=rescale)
        seen["rescale"] = rescale
        seen["boxes"] = [r.bboxes.clone() for r in out]
        return out

    model.roi_head.predict = recording
    samples = det_samples(H, W, 1)
    samples[0].set_metainfo(dict(scale_factor=(0.5, 0.5), ori_shape=(2 * H, 2 * W)))
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, H, W) * 50, samples)[0]
    zoomed = seen["boxes"][0]
    assert seen["rescale"] is False and len(zoomed) > 0
    assert zoomed[:, 2].max() <= ZOOMED[1] and zoomed[:, 3].max() <= ZOOMED[0]  # clipped there
    up = model.grid_generator.grids("cpu", torch.float32)[0]
    expected = spec_unwarp(zoomed, up, ZOOMED[::-1], (W, H)) * 2  # / scale_factor
    torch.testing.assert_close(out.pred_instances.bboxes.double(), expected, atol=2e-3, rtol=0)
    assert (expected - zoomed.double() * 4).abs().max() > 2  # not a plain rescale
    assert FOVEA_FRAME not in out.metainfo and out.metainfo["img_shape"] == (H, W)


def test_known_zoomed_boxes_come_back_through_the_unwarp():
    """Boxes placed by hand in the zoomed frame (a stub RoI head): the detector returns them
    where FOVEA's unwarp puts them; replacing the unwarp by a rescale fails this."""
    from mmengine.structures import InstanceData

    model = build(FOVEA, saliency=asymmetric_saliency()).eval()
    known = torch.tensor([[10.0, 8.0, 40.0, 30.0], [100.0, 30.0, 150.0, 80.0],
                          [60.0, 50.0, 61.0, 52.0]])

    def stub(x, proposals, samples, rescale=False):
        return [InstanceData(bboxes=known.clone(), scores=torch.ones(3),
                             labels=torch.zeros(3, dtype=torch.long)) for _ in samples]

    model.roi_head.predict = stub
    with torch.no_grad():
        out = model.predict(torch.zeros(1, 3, H, W), det_samples(H, W, 1))[0].pred_instances
    up = model.grid_generator.grids("cpu", torch.float32)[0]
    expected = spec_unwarp(known, up, ZOOMED[::-1], (W, H))
    torch.testing.assert_close(out.bboxes.double(), expected, atol=1e-4, rtol=0)
    assert (expected - known * 2).abs().max() > 5


# ------------------------------------------------------------ training


def test_rpn_assignment_is_that_of_the_unwarped_anchors_in_the_original_frame():
    from mmdet.registry import TASK_UTILS
    from mmengine.structures import InstanceData

    from lzu.openmmlab.fovea_heads import ZoomedFrame

    model = build(FOVEA, saliency=asymmetric_saliency())
    head = model.rpn_head
    grid = peaked_grid()
    meta = dict(img_shape=ZOOMED, pad_shape=ZOOMED, batch_input_shape=ZOOMED,
                **{FOVEA_FRAME: ZoomedFrame(grid, ZOOMED[::-1], (W, H))})
    gt = InstanceData(bboxes=torch.tensor([[20.0, 30.0, 90.0, 100.0], [150.0, 60.0, 300.0, 170.0],
                                           [230.0, 20.0, 262.0, 60.0]], dtype=torch.float64),
                      labels=torch.zeros(3, dtype=torch.long))
    sizes = [torch.Size((ZOOMED[0] // s, ZOOMED[1] // s)) for s in (4, 8, 16, 32, 64)]
    sizes[-1] = torch.Size((2, 3))
    anchors = [a.double() for a in head.prior_generator.grid_priors(sizes, device="cpu")]
    flat = torch.cat(anchors)
    recorded = []
    sample = head.sampler.sample
    head.sampler.sample = lambda assign, *a, **k: recorded.append(assign) or sample(assign, *a, **k)
    head._get_targets_single(flat, torch.ones(len(flat), dtype=torch.bool), gt, meta)
    assigner = TASK_UTILS.build(model.train_cfg["rpn"]["assigner"])
    ref = assigner.assign(InstanceData(priors=spec_unwarp(flat, grid, ZOOMED[::-1], (W, H))), gt)
    assert torch.equal(recorded[0].gt_inds, ref.gt_inds)
    assert (ref.gt_inds > 0).sum() >= 3
    # the zoomed-frame rule (GT warped, anchors as they are) labels anchors differently here
    from lzu.core.box_warp import warp_boxes

    coarse = saliency_to_grid(asymmetric_saliency().double(), attraction_fwhm=10.0)
    warped = InstanceData(bboxes=warp_boxes(gt.bboxes, coarse, (W, H), ZOOMED[::-1]),
                          labels=gt.labels)
    assert not torch.equal(assigner.assign(InstanceData(priors=flat), warped).gt_inds, ref.gt_inds)


def clamp_to_canvas(model, shape):
    """The uniform detector with its assigned priors and loss-decoded boxes clamped to the
    image: what FOVEA's unwarp does to them with a uniform grid (spec 3.6), besides 2x."""
    h, w = shape
    for owner, name in ((model.rpn_head, "assigner"), (model.roi_head, "bbox_assigner")):
        assigner = getattr(owner, name)
        assign = assigner.assign

        def clamped(pred, gt, ignore=None, assign=assign, **k):
            from mmengine.structures import InstanceData

            priors = pred.priors.clone()
            priors[:, 0::2] = priors[:, 0::2].clamp(0, w)
            priors[:, 1::2] = priors[:, 1::2].clamp(0, h)
            return assign(InstanceData(priors=priors), gt, ignore, **k)

        assigner.assign = clamped
    for coder in (model.rpn_head.bbox_coder, model.roi_head.bbox_head.bbox_coder):
        decode = coder.decode
        coder.decode = (lambda b, d, max_shape=None, decode=decode, **k:
                        decode(b, d, max_shape=max_shape or shape, **k))
    return model


def float64_training(models, head):
    """``models`` in float64 training mode, their ``head``'s priors generated in float64."""
    for model in models:
        model.double().train()
        priors = getattr(model, head).prior_generator.grid_priors
        getattr(model, head).prior_generator.grid_priors = (
            lambda sizes, priors=priors, **k: priors(sizes, **dict(k, dtype=torch.float64)))


def uniform_inputs():
    """Seeded float64 frames, the 2x resize the uniform zoom makes of them, and samples in the
    resized frame with their GT boxes halved."""
    torch.manual_seed(2)
    imgs = torch.randn(2, 3, H, W, dtype=torch.float64) * 50
    resized = F.grid_sample(imgs, identity(*ZOOMED, 2, torch.float64), align_corners=True)
    plain_samples = det_samples(*ZOOMED, 2, with_gt=True)
    for s in plain_samples:
        s.gt_instances.bboxes = s.gt_instances.bboxes.double() * 0.5
    return imgs, resized, plain_samples


@pytest.mark.usefixtures("nms_any_dtype")
def test_uniform_saliency_fovea_losses_equal_the_uniform_detector_with_giou():
    """A uniform zoom is a 2x resize and the unwarp a 2x rescale of the box clamped to the
    canvas; GIoU and IoU do not see the scale, so FOVEA's losses (GT in the original frame)
    are those of the uniform detector with the same GIoU settings and that clamp."""
    plain, fovea = clamp_to_canvas(giou_uniform(), ZOOMED), build(FOVEA)
    fovea.load_state_dict(plain.state_dict(), strict=True)
    float64_training((plain, fovea), "rpn_head")
    imgs, resized, plain_samples = uniform_inputs()
    torch.manual_seed(3)
    ref = plain.loss(resized, plain_samples)
    samples = det_samples(H, W, 2, with_gt=True)
    for s in samples:
        s.gt_instances.bboxes = s.gt_instances.bboxes.double()
    torch.manual_seed(3)
    got = fovea.loss(imgs, samples)
    assert ref.keys() == got.keys()
    for key in ref:
        if "loss" in key:
            a, b = (sum(v) if isinstance(v, list) else v for v in (got[key], ref[key]))
            assert_close_rel(a, b)
    # the GT stayed in the original frame
    torch.testing.assert_close(samples[0].gt_instances.bboxes,
                               det_samples(H, W, 1, with_gt=True)[0].gt_instances.bboxes.double())


def test_gt_frame_must_fit_the_heads():
    with pytest.raises(UnmovableGeometryError, match="gt_frame='zoomed' cannot train them"):
        build(FOVEA, gt_frame="zoomed")
    cfg = load_config(osp.join(ROOT, "configs/det2d/fovea_fcos_0.50.py"))
    cfg.model.grid_generator.update(saliency_file=UNIFORM, output_shape=ZOOMED)
    cfg.model.gt_frame = "original"
    with pytest.raises(UnmovableGeometryError, match="needs FOVEA's heads.*bbox_head"):
        build_model(cfg)


def test_gt_added_as_proposals_is_refused():
    from lzu.infra.errors import UserInputError

    cfg = load_config(osp.join(ROOT, FOVEA))
    cfg.model.grid_generator.update(saliency_file=UNIFORM, output_shape=ZOOMED)
    cfg.model.train_cfg.rcnn.sampler.add_gt_as_proposals = True
    model = build_model(cfg).train()
    with pytest.raises(UserInputError, match="add_gt_as_proposals"):
        model.loss(torch.randn(1, 3, H, W), det_samples(H, W, 1, with_gt=True))


# ------------------------------------------------------------ saliency rules


def _video_saliency(**kw):
    from lzu.openmmlab.video_saliency import VideoSaliency

    return VideoSaliency((27, 48), **kw)


def _frame(sid, fid):
    s = det_samples(H, W, 1)[0]
    s.set_metainfo(dict(sid=sid, fid=fid))
    return s


def test_first_frame_and_frame_after_no_detection_are_uniform_for_fovea():
    from mmengine.structures import InstanceData

    prior = asymmetric_saliency().double()
    si = _video_saliency(prior_weight=0.0, empty="uniform", score_thr=0.05)
    sc = _video_saliency(prior_file=prior, prior_weight=0.5, empty="uniform", score_thr=0.05)
    lzu = _video_saliency(prior_file=prior, prior_weight=0.5)  # adaptive LZU's rule
    uniform = uniform_saliency((27, 48))
    for vs, expected in ((si, uniform), (sc, 0.5 * prior + 0.5 * uniform), (lzu, prior)):
        got = vs.batch_saliency([_frame(1, 0)], False, "cpu", torch.float64)
        torch.testing.assert_close(got, expected / expected.sum(), atol=1e-9, rtol=0)
    # the uniform S_I gives the identity grid
    grid = saliency_to_grid(si.batch_saliency([_frame(1, 0)], False, "cpu", torch.float64))
    torch.testing.assert_close(grid, identity(27, 48, 1, torch.float64), atol=1e-9, rtol=0)
    # a frame with no detection: the next frame is uniform again
    empty = _frame(1, 0)
    empty.pred_instances = InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0))
    si.update([empty])
    got = si.batch_saliency([_frame(1, 1)], False, "cpu", torch.float64)
    torch.testing.assert_close(got, uniform, atol=1e-12, rtol=0)
    # with a detection it is not
    found = _frame(1, 1)
    found.pred_instances = InstanceData(bboxes=torch.tensor([[20.0, 20.0, 60.0, 60.0]]),
                                        scores=torch.tensor([0.06]))
    si.update([found])
    assert (si.batch_saliency([_frame(1, 2)], False, "cpu", torch.float64) - uniform).abs().max() > 1e-4


def test_foveas_training_jitter_is_100_n_minus_50_pixels_on_centres():
    torch.manual_seed(0)
    boxes = torch.tensor([[100.0, 100.0, 140.0, 180.0]]).expand(20000, 4)
    out = fovea_jitter(boxes, 50.0)
    shift = out - boxes
    torch.testing.assert_close(shift[:, 0], shift[:, 2])  # sizes kept
    assert abs(shift[:, :2].mean().item() + 50) < 2.5 and abs(shift[:, :2].std().item() - 100) < 2.5


# ------------------------------------------------------------ configs


@pytest.mark.parametrize("path", sorted(glob.glob(osp.join(ROOT, "configs", "det2d", "fovea_*.py"))))
def test_every_fovea_config_builds(path):
    cfg = load_config(path)
    shape = tuple(cfg.model.grid_generator.get("grid_shape") or (27, 48))
    saliency = torch.full((1, 1, *shape), 1.0 / (shape[0] * shape[1]))
    if cfg.model.grid_generator.type == "FixedGrid":
        cfg.model.grid_generator.saliency_file = saliency
    if cfg.model.get("adaptive_saliency") and cfg.model.adaptive_saliency.get("prior_file"):
        cfg.model.adaptive_saliency.prior_file = saliency
    model = build_model(cfg)
    if "faster_rcnn" in osp.basename(path):
        assert model.gt_frame == "original"  # FOVEA's path
    if "kde_" in osp.basename(path):  # FOVEA's released settings (KDE and LKDE)
        assert model.grid_generator.grid_shape in (None, (31, 51))
        assert model.grid_generator.attraction_fwhm == 4
        assert cfg.train_dataloader.batch_size == 4 and cfg.train_cfg.max_epochs == 3
        assert cfg.model.data_preprocessor.pad_size_divisor == 1


# ------------------------------------------------------------ the 31x51 prior


def test_run_sh_builds_the_31x51_prior_of_foveas_configs_from_the_training_boxes(tmp_path,
                                                                                 monkeypatch):
    """`sh run.sh det2d/fovea_kde_sd_faster_rcnn_0.50` (and S_C) builds the missing 31x51 prior
    with tools/make_saliency.py from the training json, as for the LZU configs; S_I needs none."""
    import json

    from helpers import load_tool

    from lzu.core.saliency_io import load_saliency

    tool = load_tool("run_experiment")
    monkeypatch.delenv("SALIENCY", raising=False)
    ann = tmp_path / "Argoverse-HD" / "annotations"
    ann.mkdir(parents=True)
    boxes = [[100.0, 200.0, 80.0, 60.0], [1500.0, 600.0, 40.0, 90.0], [900.0, 550.0, 30.0, 30.0]]
    with open(ann / "train.json", "w", encoding="utf-8") as f:
        json.dump({"images": [{"id": 1, "file_name": "a.jpg", "width": 1920, "height": 1200}],
                   "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": b,
                                    "area": b[2] * b[3], "iscrowd": 0}
                                   for i, b in enumerate(boxes)],
                   "categories": [{"id": 1, "name": "person"}]}, f)
    prior = tmp_path / "saliency_kde_31x51.pkl"
    cmd = tool.saliency_command(load_config(osp.join(ROOT, "configs/det2d/fovea_kde_sd_faster_rcnn_0.50.py")),
                                str(tmp_path), str(prior))
    assert cmd[1:] == ["tools/make_saliency.py", "--coco", str(ann / "train.json"),
                       "--grid-shape", "31", "51", "--out", str(prior)]
    got = tool.ensure_saliency("configs/det2d/fovea_kde_sd_faster_rcnn_0.50.py", str(tmp_path), [])
    assert got == ["--cfg-options", f'model.grid_generator.saliency_file="{prior}"']
    saliency = load_saliency(str(prior), (31, 51))
    assert tuple(saliency.shape) == (1, 1, 31, 51)
    got = tool.ensure_saliency("configs/det2d/fovea_kde_sc_faster_rcnn_0.50.py", str(tmp_path), [])
    assert got == ["--cfg-options", f'model.adaptive_saliency.prior_file="{prior}"']
    assert tool.ensure_saliency("configs/det2d/fovea_kde_si_faster_rcnn_0.50.py",
                                str(tmp_path), []) == []
    for name in ("sd", "sc"):  # the configs build with the prior the tool made
        cfg = load_config(osp.join(ROOT, f"configs/det2d/fovea_kde_{name}_faster_rcnn_0.50.py"))
        key = cfg.model.grid_generator if name == "sd" else cfg.model.adaptive_saliency
        key[("saliency_file" if name == "sd" else "prior_file")] = str(prior)
        build_model(cfg)


# ------------------------------------------------------------ LKDE S_I


def _lkde_model(jitter=50.0):
    cfg = load_config(osp.join(ROOT, "configs/det2d/fovea_lkde_si_faster_rcnn_0.50.py"))
    cfg.model.grid_generator.output_shape = ZOOMED
    cfg.model.adaptive_saliency.jitter = jitter
    return cfg, build_model(cfg)


def _lkde_samples():
    samples = det_samples(H, W, 1, with_gt=True)
    samples[0].set_metainfo(dict(sid=1, fid=3))
    return samples


def test_lkde_starts_as_the_si_kde_with_bandwidth_64_1_and_amplitude_1_1():
    from mmengine.optim import build_optim_wrapper

    from lzu.core.box_saliency import boxes_to_saliency

    cfg, model = _lkde_model(jitter=0.0)
    bandwidth, amplitude = (v.detach() for v in model.learned_kde())
    assert float(bandwidth) == pytest.approx(64.1) and float(amplitude) == pytest.approx(1.1)
    samples = _lkde_samples()
    got = model.video_saliency.batch_saliency(samples, True, "cpu", torch.float64,
                                              kde=model.learned_kde())
    gt = samples[0].gt_instances.bboxes.double()
    expected = boxes_to_saliency([gt], (W, H), (31, 51), 64.1, 1.1, dtype=torch.float64)
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)
    assert (got - boxes_to_saliency([gt], (W, H), (31, 51), 64.0, 1.0,
                                    dtype=torch.float64)).abs().max() > 1e-6
    # FOVEA's optimiser for the two scalars: lr x 0.005, no weight decay
    groups = build_optim_wrapper(model, cfg.optim_wrapper).optimizer.param_groups
    kde = [g for g in groups if any(p is model.learned_kde.bandwidth for p in g["params"])]
    assert len(kde) == 1 and kde[0]["lr"] == pytest.approx(0.02 * 0.005)
    assert kde[0]["weight_decay"] == 0.0


def test_lkde_scalars_receive_gradients_in_a_training_step():
    """Through the image warp and the unwarps of FOVEA's heads (spec 2.7)."""
    _, model = _lkde_model()
    model.train()
    torch.manual_seed(0)
    losses = model.loss(torch.randn(1, 3, H, W) * 50, _lkde_samples())
    total = sum(v.sum() if torch.is_tensor(v) else sum(x.sum() for x in v)
                for k, v in losses.items() if "loss" in k)
    total.backward()
    for p in (model.learned_kde.bandwidth, model.learned_kde.amplitude):
        assert p.grad is not None and torch.isfinite(p.grad) and p.grad.abs() > 0


# ------------------------------------------------------------ FOVEA on a one-stage head


def _retina_cfg(fovea):
    cfg = load_config(osp.join(ROOT, "configs/det2d/retinanet_uniform_0.50.py"))
    head = dict(reg_decoded_bbox=True, loss_bbox=dict(type="GIoULoss", loss_weight=1.0))
    if fovea:
        zoom = load_config(osp.join(ROOT, "configs/det2d/lzu_retinanet_0.50.py")).model
        cfg.model.type = "FoveaRetinaNet"
        cfg.model.grid_generator = dict(zoom.grid_generator, saliency_file=UNIFORM,
                                        output_shape=ZOOMED)
        head["type"] = "FoveaRetinaHead"
    cfg.model.bbox_head.update(head)
    return cfg


@pytest.mark.usefixtures("nms_any_dtype")
def test_uniform_saliency_fovea_retinanet_losses_equal_the_uniform_retinanet_with_giou():
    """FOVEA's rule on RetinaNet's head (FoveaRetinaHead): with a uniform zoom its losses are
    the uniform RetinaNet's with the same GIoU loss and the canvas clamp (as above)."""
    plain, fovea = build_model(_retina_cfg(False)), build_model(_retina_cfg(True))
    assert fovea.gt_frame == "original"
    fovea.load_state_dict(plain.state_dict(), strict=True)
    h, w = ZOOMED
    assigner, assign = plain.bbox_head.assigner, plain.bbox_head.assigner.assign

    def clamped(pred, gt, ignore=None, **k):
        from mmengine.structures import InstanceData

        priors = pred.priors.clone()
        priors[:, 0::2] = priors[:, 0::2].clamp(0, w)
        priors[:, 1::2] = priors[:, 1::2].clamp(0, h)
        return assign(InstanceData(priors=priors), gt, ignore, **k)

    assigner.assign = clamped
    decode = plain.bbox_head.bbox_coder.decode
    plain.bbox_head.bbox_coder.decode = (lambda b, d, max_shape=None, **k:
                                         decode(b, d, max_shape=max_shape or ZOOMED, **k))
    float64_training((plain, fovea), "bbox_head")
    imgs, resized, plain_samples = uniform_inputs()
    ref = plain.loss(resized, plain_samples)
    samples = det_samples(H, W, 2, with_gt=True)
    for s in samples:
        s.gt_instances.bboxes = s.gt_instances.bboxes.double()
    got = fovea.loss(imgs, samples)
    assert ref.keys() == got.keys()
    assert sum(got["loss_bbox"]) > 0  # positives were assigned: the box loss is compared
    for key in ref:
        a, b = (sum(v) if isinstance(v, list) else v for v in (got[key], ref[key]))
        assert_close_rel(a, b)
