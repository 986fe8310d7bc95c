"""Small segmentation models and inputs for CPU tests (a helper module, not a test file)."""

import cv2
import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

import lzu.openmmlab  # noqa: F401  (registers LZUEncoderDecoder)
from lzu.data.synthetic.cityscapes_writer import IGNORE

GRID = (16, 16)
UNIFORM = torch.full((1, 1) + GRID, 1.0 / (GRID[0] * GRID[1]))


def peaked_saliency(row=6, col=10):
    rows = torch.exp(-0.5 * ((torch.arange(GRID[0] * 1.0) - row) / 2.0) ** 2)[:, None]
    cols = torch.exp(-0.5 * ((torch.arange(GRID[1] * 1.0) - col) / 3.0) ** 2)[None, :]
    s = 0.3 / (GRID[0] * GRID[1]) + rows * cols / (rows * cols).sum()
    return (s / s.sum())[None, None]


def identity(h, w, batch, dtype=torch.float64):
    ys, xs = torch.linspace(-1, 1, h, dtype=dtype), torch.linspace(-1, 1, w, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), -1)[None].expand(batch, -1, -1, -1)


def model_cfg(lzu=True, output_shape=(48, 64), saliency=UNIFORM, size=None, family="fcn"):
    """A small mmseg model, as mmseg configs describe it.

    ``fcn``: ResNetV1c-18 D8 + FCN head + auxiliary FCN head (no neck); ``fpn``: ResNet-18
    + FPN neck + FPN head (Semantic FPN); ``ocr``: a cascade (FCN head, then OCR head).
    """
    norm = dict(type="BN", requires_grad=True)
    # no dropout: two models' training losses can then be compared
    head = dict(num_classes=19, norm_cfg=norm, align_corners=False, dropout_ratio=0.0)
    d8 = dict(type="ResNetV1c", depth=18, num_stages=4, out_indices=(0, 1, 2, 3),
              dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm,
              contract_dilation=True, base_channels=16)
    fcn = dict(type="FCNHead", in_channels=128, in_index=3, channels=16, num_convs=1,
               concat_input=False, **head)
    cfg = dict(
        type="EncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=[0.0] * 3, std=[1.0] * 3,
                               size=size, size_divisor=None if size else 1),
        backbone=d8, decode_head=fcn,
        auxiliary_head=dict(type="FCNHead", in_channels=64, in_index=2, channels=8, num_convs=1,
                            concat_input=False, loss_decode=dict(type="CrossEntropyLoss",
                                                                 loss_weight=0.4), **head),
        train_cfg=dict(), test_cfg=dict(mode="whole"))
    if family == "fpn":
        cfg.update(
            backbone=dict(type="ResNetV1c", depth=18, out_indices=(0, 1, 2, 3), norm_cfg=norm,
                          base_channels=16),
            neck=dict(type="FPN", in_channels=[16, 32, 64, 128], out_channels=16, num_outs=4),
            decode_head=dict(type="FPNHead", in_channels=[16] * 4, in_index=[0, 1, 2, 3],
                             feature_strides=[4, 8, 16, 32], channels=16, **head),
            auxiliary_head=None)
    elif family == "ocr":
        cfg.update(type="CascadeEncoderDecoder", num_stages=2, auxiliary_head=None,
                   decode_head=[fcn, dict(type="OCRHead", in_channels=128, in_index=3,
                                          channels=16, ocr_channels=8, **head)])
    if lzu:
        cfg["type"] = "LZU" + cfg["type"]
        cfg["grid_generator"] = dict(type="FixedGrid", saliency_file=saliency,
                                     output_shape=output_shape, grid_shape=GRID)
    return ConfigDict(cfg)


def build(cfg):
    from mmseg.registry import MODELS

    init_default_scope("mmseg")
    return MODELS.build(cfg)


def pair(output_shape=(48, 64), saliency=UNIFORM, family="fcn"):
    """(plain segmentor, its LZU version) with the same weights."""
    torch.manual_seed(0)
    plain = build(model_cfg(False, size=output_shape, family=family))
    lzu_model = build(model_cfg(True, output_shape, saliency, family=family))
    missing = lzu_model.load_state_dict(plain.state_dict(), strict=True)
    assert not missing.missing_keys
    return plain, lzu_model


def seg_samples(shape, batch, labels=None, ori_shape=None, flip=None):
    from mmseg.structures import SegDataSample

    samples = []
    for i in range(batch):
        meta = dict(img_shape=shape, ori_shape=ori_shape or shape, pad_shape=shape,
                    flip=bool(flip and flip[i]), flip_direction=flip[i] if flip else None)
        s = SegDataSample(metainfo=meta)
        if labels is not None:
            s.gt_sem_seg = PixelData(data=labels[i][None].clone())
        samples.append(s)
    return samples


def label_field(h, w, seed=0, blocks=(6, 8)):
    """A label map of ``blocks`` rectangles (19 ids) with an ignored bottom strip."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 19, size=blocks).astype(np.uint8)
    label = cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)
    label[int(h * 0.9):] = IGNORE
    return label
