"""The zoomed batch is padded exactly as the plain model pads its own input.

One model per family, from the wheels' own configs (their data preprocessor and test pipeline
as shipped; backbones and widths shrunk), float64, uniform saliency: the LZU model's features
and predictions (and, for Deformable DETR and SegFormer, training losses) equal the plain
model's on the uniformly resized image, padded by hand as that
model's pipeline and data preprocessor pad it (a fixed ``Pad`` size with its pixel value, a
divisor, or nothing), to 1e-9 relative. The output size ``OUT`` is divisible by no stride
above 4, so any padding the plain model does not do shows. A test pipeline's padding LZU
cannot reproduce is refused when the model is built, naming it.
"""

import numpy as np
import pytest
import torch
from det2d_fixtures import det_sample, pair, resized, wheel_config
from mmdet.models.detectors import ATSS, DeformableDETR
from mmdet.registry import MODELS

from lzu.infra.errors import UserInputError
from lzu.openmmlab.detector_mixin import LZUDetectorMixin

IN, OUT = (104, 168), (52, 84)
SCALE = (OUT[1] / IN[1], OUT[0] / IN[0])
RTOL = 1e-9


@MODELS.register_module(force=True)
class LZUDeformableDETR(LZUDetectorMixin, DeformableDETR):
    """Deformable DETR with zoom / unzoom (the three-line recipe)."""


@MODELS.register_module(force=True)
class LZUATSS(LZUDetectorMixin, ATSS):
    """ATSS with zoom / unzoom (the three-line recipe)."""


def worst(a, b):
    """Largest relative difference of ``a`` and ``b`` (tensors, or lists / tuples of them)."""
    if isinstance(a, list | tuple):
        assert len(a) == len(b)
        return max(worst(x, y) for x, y in zip(a, b, strict=True))
    assert a.shape == b.shape, (a.shape, b.shape)
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30)).item()


def padded_input(small, shape, value):
    """``small`` ``(B, C, h, w)`` in the top-left of a ``shape`` canvas of ``value`` per channel."""
    out = torch.as_tensor(value, dtype=small.dtype).reshape(1, -1, 1, 1).expand(
        small.shape[0], small.shape[1], *shape).clone()
    out[..., :small.shape[-2], :small.shape[-1]] = small
    return out


def images():
    torch.manual_seed(1)
    return torch.randn(1, 3, *IN, dtype=torch.float64) * 50


def loss_diff(a, b):
    """Worst relative difference of two models' losses (every ``loss*`` entry)."""
    assert set(a) == set(b)
    keys = [k for k in b if "loss" in k]
    assert keys
    return max(worst(list(a[k]) if isinstance(a[k], list) else a[k],
                     list(b[k]) if isinstance(b[k], list) else b[k]) for k in keys)


def gt_sample(shape, scale=(1.0, 1.0), **meta):
    """A detection sample with two GT boxes (in the frame of an image ``shape``)."""
    from mmengine.structures import InstanceData

    boxes = torch.tensor([[10.0, 20.0, 80.0, 70.0], [90.0, 30.0, 160.0, 100.0]], dtype=torch.float64)
    sample = det_sample(shape, **meta)
    sample.gt_instances = InstanceData(bboxes=boxes * boxes.new_tensor(scale * 2),
                                       labels=torch.tensor([0, 2]))
    return sample


def detector_case(cfg, plain_shape, value=lambda plain: 0.0, k=20, with_loss=False):
    """Worst relative difference of features, scores and boxes (and training losses): LZU on
    ``IN`` images vs the plain detector on the resized image padded to ``plain_shape`` with
    ``value(plain)``. (mmdet's dense heads build their priors in float32: losses in float64 are
    compared for query-based heads.)"""
    plain, lzu_model = pair(cfg, OUT)
    plain.double(), lzu_model.double()
    imgs = images()
    small = padded_input(resized(imgs, OUT), plain_shape, value(plain))
    with torch.no_grad():
        diffs = [worst(lzu_model.extract_feat(imgs), plain.extract_feat(small))]
        a = lzu_model.predict(imgs, [det_sample(IN)])[0].pred_instances
        b = plain.predict(small, [det_sample(OUT, ori_shape=IN, scale_factor=SCALE,
                                             pad_shape=plain_shape,
                                             batch_input_shape=plain_shape)])[0].pred_instances
    assert len(b.scores) > 0
    k = min(k, len(b.scores))
    diffs += [worst(a.scores[:k], b.scores[:k]), worst(a.bboxes[:k], b.bboxes[:k])]
    if not with_loss:
        return max(diffs)
    plain.train(), lzu_model.train()
    torch.manual_seed(3)  # the same dropout in both
    losses_lzu = lzu_model.loss(imgs, [gt_sample(IN)])
    torch.manual_seed(3)
    losses_plain = plain.loss(small, [gt_sample(OUT, SCALE, ori_shape=IN, scale_factor=SCALE,
                                                pad_shape=plain_shape, batch_input_shape=plain_shape)])
    return max(diffs + [loss_diff(losses_lzu, losses_plain)])


def segmentor_case(cfg, with_loss=False):
    """Worst relative difference of features and logits (and training losses): LZU on ``IN``
    images vs the plain segmentor on the resized image (mmseg pads nothing at test time without
    a ``test_cfg``; in training, to the data preprocessor's ``size``, labels with 255)."""
    import mmcv
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    plain, lzu_model = pair(cfg, OUT, scope="mmseg")
    plain.double(), lzu_model.double()
    imgs = images()
    small = resized(imgs, OUT)
    meta = dict(ori_shape=IN, padding_size=[0, 0, 0, 0])
    with torch.no_grad():
        diffs = [worst(lzu_model.extract_feat(imgs), plain.extract_feat(small))]
        a = lzu_model.predict(imgs, [SegDataSample(metainfo=dict(meta, img_shape=IN, pad_shape=IN))])
        b = plain.predict(small, [SegDataSample(metainfo=dict(meta, img_shape=OUT, pad_shape=OUT))])
    diffs.append(worst(a[0].seg_logits.data, b[0].seg_logits.data))
    if not with_loss:
        return max(diffs)
    size = tuple(cfg.model.data_preprocessor.size)
    label = np.random.default_rng(0).integers(0, 5, IN).astype(np.uint8)
    small_label = np.full(size, 255, np.uint8)
    small_label[:OUT[0], :OUT[1]] = mmcv.imresize(label, OUT[::-1], interpolation="nearest")

    def sample(shape, pad, lab):
        s = SegDataSample(metainfo=dict(meta, img_shape=shape, pad_shape=pad))
        s.gt_sem_seg = PixelData(data=torch.from_numpy(lab)[None].long())
        return s

    plain.train(), lzu_model.train()
    torch.manual_seed(3)  # the same dropout and drop path in both
    losses_lzu = lzu_model.loss(imgs, [sample(IN, IN, label)])
    torch.manual_seed(3)
    losses_plain = plain.loss(padded_input(small, size, 0.0), [sample(OUT, size, small_label)])
    return max(diffs + [loss_diff(losses_lzu, losses_plain)])


# ------------------------------------------------------------ the families' shrunk configs


def deformable_detr_cfg():
    """Deformable DETR (no divisor: the plain model pads nothing), ResNet-18, one layer each."""
    cfg = wheel_config("mmdet", "deformable_detr/deformable-detr_r50_16xb2-50e_coco.py")
    m, dims = cfg.model, 32
    m.num_queries = 20
    m.test_cfg.max_per_img = 20
    m.backbone.depth = 18
    m.neck.update(in_channels=[128, 256, 512], out_channels=dims, norm_cfg=dict(type="GN", num_groups=8))
    for part in (m.encoder, m.decoder):
        part.num_layers = 1
        part.layer_cfg.ffn_cfg.update(embed_dims=dims, feedforward_channels=64)
        for attn in ("self_attn_cfg", "cross_attn_cfg"):
            if attn in part.layer_cfg:
                part.layer_cfg[attn].embed_dims = dims
    m.positional_encoding.num_feats = dims // 2
    m.bbox_head.update(num_classes=3, embed_dims=dims)
    return cfg


def rtmdet_cfg():
    """RTMDet-tiny with its config's pipeline (``Pad`` to 640x640 with 114) and preprocessor;
    an eighth of its width."""
    cfg = wheel_config("mmdet", "rtmdet/rtmdet_tiny_8xb32-300e_coco.py")
    cfg.model.bbox_head.num_classes = 3
    cfg.model.backbone.widen_factor = 0.125
    cfg.model.neck.update(in_channels=[32, 64, 128], out_channels=32)
    cfg.model.bbox_head.update(in_channels=32, feat_channels=32)
    return cfg


def atss_cfg():
    """ATSS (the data preprocessor's divisor 32), ResNet-18, 16-channel FPN and head."""
    cfg = wheel_config("mmdet", "atss/atss_r50_fpn_1x_coco.py")
    cfg.model.backbone.depth = 18
    cfg.model.neck.update(in_channels=[64, 128, 256, 512], out_channels=16)
    cfg.model.bbox_head.update(num_classes=3, in_channels=16, feat_channels=16,
                               norm_cfg=dict(type="GN", num_groups=4, requires_grad=True))
    return cfg


def centernet_cfg():
    cfg = wheel_config("mmdet", "centernet/centernet_r18_8xb16-crop512-140e_coco.py")
    cfg.model.bbox_head.num_classes = 3
    cfg.model.neck.num_deconv_filters = (16, 16, 16)
    cfg.model.bbox_head.update(in_channels=16, feat_channels=16)
    return cfg


def _seg_common(cfg):
    cfg.norm_cfg = dict(type="BN", requires_grad=True)
    cfg.model.test_cfg = dict(mode="whole")
    for head in ("decode_head", "auxiliary_head"):
        if cfg.model.get(head):
            cfg.model[head].update(num_classes=5, norm_cfg=dict(type="BN", requires_grad=True))
    if cfg.model.backbone.type.startswith("ResNet"):
        cfg.model.backbone.norm_cfg = dict(type="BN", requires_grad=True)
    return cfg


def segformer_cfg():
    """SegFormer MiT-B0 (ADE20K config: its preprocessor pads only in training), one block per
    stage, 16-channel head."""
    cfg = wheel_config("mmseg", "segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py")
    cfg.model.backbone.update(num_layers=[1, 1, 1, 1], init_cfg=None)
    cfg.model.decode_head.channels = 16
    return _seg_common(cfg)


def upernet_cfg():
    """UPerNet ResNet-18 (Cityscapes config), 16-channel heads."""
    cfg = wheel_config("mmseg", "upernet/upernet_r18_4xb2-40k_cityscapes-512x1024.py")
    cfg.model.decode_head.channels = 16
    cfg.model.auxiliary_head.channels = 16
    return _seg_common(cfg)


def pspnet_cfg():
    """PSPNet ResNet-18 D8 (Cityscapes config), 16-channel heads."""
    cfg = wheel_config("mmseg", "pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py")
    cfg.model.decode_head.channels = 16
    cfg.model.auxiliary_head.channels = 16
    return _seg_common(cfg)


def rtmdet_pad_value(plain):
    """RTMDet's ``Pad`` value 114 as its data preprocessor normalizes it (no channel swap)."""
    return ((114.0 - plain.data_preprocessor.mean) / plain.data_preprocessor.std).reshape(-1)


#: family -> (its case, as the independent check measures it)
CASES = {
    "Deformable DETR": lambda: detector_case(deformable_detr_cfg(), OUT, with_loss=True),
    "RTMDet-tiny": lambda: detector_case(rtmdet_cfg(), (640, 640), rtmdet_pad_value),
    "ATSS": lambda: detector_case(atss_cfg(), (64, 96)),
    "SegFormer": lambda: segmentor_case(segformer_cfg(), with_loss=True),
    "UPerNet": lambda: segmentor_case(upernet_cfg()),
    "PSPNet": lambda: segmentor_case(pspnet_cfg()),
}


@pytest.mark.parametrize("family", list(CASES))
def test_lzu_equals_the_plain_model_padded_as_it_pads_its_own_input(family, nms_any_dtype):
    assert CASES[family]() <= RTOL


def test_centernets_centred_test_padding_is_refused_at_build_naming_it():
    """CenterNet's test pipeline pads around the image (``RandomCenterCropPad`` in test mode):
    the zoom of that canvas is no padded zoomed image, so the model is not built."""
    with pytest.raises(UserInputError, match=r"test_dataloader.dataset.pipeline\[1\] is "
                       r"RandomCenterCropPad.*set model.pipeline_pad"):
        pair(centernet_cfg(), OUT)


def test_the_test_pipelines_pad_becomes_model_pipeline_pad_and_other_pads_are_refused():
    """``pipeline_pad`` reads the test pipeline (a dataset wrapper's too); a second ``Pad`` or a
    padding step of unknown effect is refused naming its place and ``model.pipeline_pad``."""
    from mmengine.config import Config

    from lzu.openmmlab.pipeline_padding import pipeline_pad, set_pipeline_pad

    def cfg(*steps, wrapped=False):
        dataset = dict(pipeline=[dict(type="LoadImageFromFile"), *steps])
        if wrapped:
            dataset = dict(type="RepeatDataset", dataset=dataset)
        return Config(dict(model=dict(type="LZUFCOS", grid_generator={}),
                           test_dataloader=dict(dataset=dataset)))

    pad = dict(type="mmdet.Pad", size=(640, 480), pad_val=dict(img=(114, 114, 114)))
    assert pipeline_pad(cfg(pad)) == dict(size=(640, 480), pad_val=dict(img=(114, 114, 114)))
    assert pipeline_pad(cfg(dict(type="Pad", size_divisor=32), wrapped=True)) == dict(size_divisor=32)
    assert pipeline_pad(cfg(dict(type="Resize", scale=(64, 64)))) is None
    assert set_pipeline_pad(cfg(pad)).model.pipeline_pad["size"] == (640, 480)
    with pytest.raises(UserInputError, match=r"pipeline\[2\] is a second Pad.*model.pipeline_pad"):
        pipeline_pad(cfg(pad, pad))
    with pytest.raises(UserInputError, match=r"pipeline\[1\] is PadToCanvas: LZU cannot tell"):
        pipeline_pad(cfg(dict(type="PadToCanvas")))
