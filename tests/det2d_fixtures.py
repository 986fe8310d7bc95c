"""Small 2-D detection inputs and model pairs for CPU tests (a helper module, not a test file)."""

import copy
import importlib
import os.path as osp

import torch
import torch.nn.functional as F
from conftest import ROOT
from mmengine.config import Config

import lzu.openmmlab  # noqa: F401  (registers the detectors)
from lzu.apis.runtime import build_model, load_config

UNIFORM = torch.full((1, 1, 27, 48), 1.0 / (27 * 48))


def asymmetric_saliency():
    rows = torch.exp(-0.5 * ((torch.arange(27.0) - 12) / 3.0) ** 2)[:, None]
    cols = torch.exp(-0.5 * ((torch.arange(48.0) - 34) / 5.0) ** 2)[None, :]
    s = 0.2 / (27 * 48) + rows * cols / (rows * cols).sum()
    return (s / s.sum())[None, None]


def identity(h, w, batch, dtype=torch.float32):
    ys, xs = torch.linspace(-1, 1, h, dtype=dtype), torch.linspace(-1, 1, w, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), -1)[None].expand(batch, -1, -1, -1)


def build_pair(family, output_shape=(96, 160), method="lzu", saliency=UNIFORM):
    """The uniform detector and its ``method`` ('lzu' or 'fovea') config, same weights."""
    plain_cfg = load_config(osp.join(ROOT, "configs", "det2d", f"{family}_uniform_0.50.py"))
    zoom_cfg = load_config(osp.join(ROOT, "configs", "det2d", f"{method}_{family}_0.50.py"))
    zoom_cfg.model.grid_generator.update(saliency_file=saliency, output_shape=output_shape)
    plain, zoomed = build_model(plain_cfg), build_model(zoom_cfg)
    zoomed.load_state_dict(plain.state_dict(), strict=True)  # same weights, same keys
    return plain.eval(), zoomed.eval()


def det_samples(h, w, batch, with_gt=False):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    samples = []
    for _ in range(batch):
        s = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                        batch_input_shape=(h, w), scale_factor=(1.0, 1.0)))
        if with_gt:
            # tensors, as DetDataPreprocessor (boxtype2tensor) hands them to the model
            s.gt_instances = InstanceData(
                bboxes=torch.tensor([[20.0, 30.0, 90.0, 100.0], [150.0, 60.0, 300.0, 170.0]]),
                labels=torch.tensor([2, 5]))
        samples.append(s)
    return samples


def assert_close_rel(a, b, rtol=1e-4):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    scale = b.abs().max().clamp_min(1e-12)
    assert ((a - b).abs().max() / scale).item() <= rtol, (a, b)


def resized(imgs, shape):
    """The plain model's input: ``imgs`` uniformly resized as a uniform-saliency zoom does."""
    h, w = shape
    return F.grid_sample(imgs.double(), identity(h, w, imgs.shape[0], torch.float64),
                         align_corners=True).to(imgs.dtype)


def wheel_config(package, rel):
    root = osp.dirname(importlib.import_module(package).__file__)
    return Config.fromfile(osp.join(root, ".mim", "configs", rel))


def pair(cfg, output_shape, scope="mmdet", saliency=UNIFORM, **grid):
    """(plain model, its LZU version) with the same weights, from one (whole) config."""
    cfg.default_scope = scope
    plain = build_model(cfg)
    lzu_cfg = copy.deepcopy(cfg)
    lzu_cfg.model.type = "LZU" + cfg.model.type
    lzu_cfg.model.grid_generator = dict(type="FixedGrid", saliency_file=saliency,
                                        output_shape=output_shape, **grid)
    lzu_model = build_model(lzu_cfg)
    lzu_model.load_state_dict(plain.state_dict(), strict=True)
    return plain.eval(), lzu_model.eval()


def det_sample(shape, **meta):
    from mmdet.structures import DetDataSample

    base = dict(img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape,
                scale_factor=(1.0, 1.0))
    return DetDataSample(metainfo=dict(base, **meta))
