"""With a peaked saliency, each LZU model equals its parts composed by hand.

One test per task (2-D detection, monocular 3-D detection, segmentation): the plain model's
backbone and neck run on the image zoomed by ``lzu.core`` (``FixedGrid`` + ``zoom``), every
level is unzoomed by ``lzu.core`` (``invert_grid`` + ``unzoom``), then the plain model's head
runs on them in the uniformly resized frame. The LZU model's features and predictions must equal
that composition (float64), so a wiring error in the mixins (a wrong region, flip, padding,
level or frame) cannot pass, as it could with a uniform saliency alone. Output sizes are
divisible by the models' divisors: nothing is padded, every level is unzoomed whole.
"""

import os.path as osp

import torch
from conftest import ROOT
from det2d_fixtures import asymmetric_saliency, build_pair, det_sample

from lzu.apis.runtime import load_config
from lzu.core.fixed_grid import FixedGrid
from lzu.core.unzoom import invert_grid, unzoom
from lzu.core.zoom import zoom

RTOL = 1e-9


def rel(a, b):
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


def assert_levels_equal(a, b):
    a, b = list(a), list(b)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape and rel(x, y) <= RTOL


def composed_features(plain, imgs, grid_generator, border):
    """The plain backbone (+neck) on ``imgs`` zoomed by ``lzu.core``; every level unzoomed."""
    up, coarse = grid_generator.grids(imgs.device, imgs.dtype, None)
    feats = plain.backbone(zoom(imgs, up.expand(imgs.shape[0], -1, -1, -1)))
    if plain.with_neck:
        feats = plain.neck(feats)
    out = []
    for f in feats:
        inverse = invert_grid(coarse, tuple(f.shape[-2:]), grid_generator.separable, border)
        out.append(unzoom(f, inverse.expand(f.shape[0], -1, -1, -1)))
    return out


def grid_of(config, saliency, output_shape):
    """The config's own grid generator settings with ``saliency`` and ``output_shape``."""
    model = load_config(osp.join(ROOT, "configs", config)).model
    settings = {k: v for k, v in model.grid_generator.items() if k not in ("type", "saliency_file",
                                                                         "output_shape")}
    return (FixedGrid(saliency, output_shape=output_shape, **settings),
            model.get("unzoom_border", "exact"))


def test_2d_detector_with_a_peaked_saliency_equals_the_composition(nms_any_dtype):
    plain, lzu_model = build_pair("fcos", (96, 160), saliency=asymmetric_saliency())
    plain.double(), lzu_model.double()
    grid, border = grid_of("det2d/lzu_fcos_0.50.py", asymmetric_saliency(), (96, 160))
    torch.manual_seed(2)
    imgs = torch.randn(1, 3, 192, 320, dtype=torch.float64) * 50
    with torch.no_grad():
        feats = composed_features(plain, imgs, grid, border)
        assert_levels_equal(lzu_model.extract_feat(imgs), feats)
        ref = plain.bbox_head.predict(feats, [det_sample((96, 160), ori_shape=(192, 320),
                                                         scale_factor=(0.5, 0.5))], rescale=True)[0]
        out = lzu_model.predict(imgs, [det_sample((192, 320))])[0].pred_instances
    k = min(20, len(ref.scores))
    assert k > 0 and rel(out.scores[:k], ref.scores[:k]) <= RTOL
    assert rel(out.bboxes[:k], ref.bboxes[:k]) <= RTOL


def test_3d_detector_with_a_peaked_saliency_equals_the_composition(tmp_path):
    """FCOS3D (the paper's model: the whole padded batch zoomed): features and every dense head
    output, float64."""
    from helpers import write_saliency
    from mono3d_fixtures import build_model, make_batch

    saliency = asymmetric_saliency()
    config = osp.join(ROOT, "configs", "lzu_fcos3d_0.50.py")
    grid_cfg = dict(load_config(config).model.grid_generator, output_shape=(96, 160),
                    saliency_file=write_saliency(tmp_path / "peaked.pkl", saliency))
    lzu_model, _ = build_model(config, grid_generator=grid_cfg, unzoom_border="exact")
    plain, _ = build_model(osp.join(ROOT, "configs", "_base_", "fcos3d_r50-dcn_nus-mono3d.py"))
    plain.load_state_dict(lzu_model.state_dict(), strict=True)
    plain.double().eval(), lzu_model.double().eval()
    grid = FixedGrid(saliency, output_shape=(96, 160),
                     **{k: v for k, v in grid_cfg.items()
                        if k not in ("type", "saliency_file", "output_shape")})
    inputs, _ = make_batch((192, 320), batch=1, with_gt=False)
    imgs = inputs["imgs"].double()
    with torch.no_grad():
        feats = composed_features(plain, imgs, grid, "exact")
        lzu_feats = lzu_model.extract_feat({"imgs": imgs})
        assert_levels_equal(lzu_feats, feats)
        for a, b in zip(lzu_model.bbox_head(lzu_feats), plain.bbox_head(feats), strict=True):
            assert_levels_equal(a, b)


def test_segmentor_with_a_peaked_saliency_equals_the_composition():
    """Semantic FPN (a neck): features and the logits at the original size, float64."""
    from mmseg.structures import SegDataSample
    from seg_fixtures import GRID, pair, peaked_saliency

    plain, lzu_model = pair((48, 64), peaked_saliency(), family="fpn")
    plain.double().eval(), lzu_model.double().eval()
    grid = FixedGrid(peaked_saliency(), output_shape=(48, 64), grid_shape=GRID)
    torch.manual_seed(2)
    imgs = torch.randn(1, 3, 96, 128, dtype=torch.float64) * 50
    meta = dict(ori_shape=(96, 128), padding_size=[0, 0, 0, 0])
    with torch.no_grad():
        feats = composed_features(plain, imgs, grid, "exact")
        assert_levels_equal(lzu_model.extract_feat(imgs), feats)
        logits = plain.decode_head.predict(feats, [dict(meta, img_shape=(48, 64), pad_shape=(48, 64))],
                                           plain.test_cfg)
        ref = plain.postprocess_result(logits, [SegDataSample(metainfo=dict(
            meta, img_shape=(48, 64), pad_shape=(48, 64)))])[0]
        out = lzu_model.predict(imgs, [SegDataSample(metainfo=dict(
            meta, img_shape=(96, 128), pad_shape=(96, 128)))])[0]
    assert rel(out.seg_logits.data, ref.seg_logits.data) <= RTOL
