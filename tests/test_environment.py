"""The pinned stack: versions (mmseg included), compiled mmcv ops, and mmdet3d's FCOS3D R50-DCN on CPU."""

import math
import os
import re
from importlib import metadata

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mono3d_fixtures import make_batch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BASE_CONFIG = os.path.join(ROOT, "configs", "_base_", "fcos3d_r50-dcn_nus-mono3d.py")


def pins():
    text = open(os.path.join(ROOT, "mmdetection3d", "constraints.txt")).read()
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", text, flags=re.M))


def test_stack_versions_match_the_pins():
    import mmcv
    import mmdet
    import mmdet3d
    import mmengine
    import mmseg
    import nuscenes  # noqa: F401  (importable: the devkit the metric runs)
    import torchvision

    import lzu

    p = pins()
    assert mmdet3d.__version__ == p["mmdet3d"]
    assert mmdet.__version__ == p["mmdet"]
    assert mmcv.__version__ == p["mmcv"]
    assert mmseg.__version__ == p["mmsegmentation"]
    assert mmengine.__version__ == p["mmengine"]
    assert torch.__version__.split("+")[0] == p["torch"]
    assert torchvision.__version__.split("+")[0] == p["torchvision"]
    assert np.__version__ == p["numpy"] and int(np.__version__.split(".")[0]) < 2
    assert metadata.version("nuscenes-devkit") == p["nuscenes-devkit"]
    assert lzu.__version__


def test_mmseg_imports_with_the_pinned_stack():
    # mmseg.utils imports ftfy and regex at module level, IoUMetric prettytable
    import ftfy
    import prettytable
    import regex
    from mmengine.evaluator import BaseMetric
    from mmseg.evaluation import IoUMetric
    from mmseg.models import EncoderDecoder
    from mmseg.registry import MODELS

    p = pins()
    assert ftfy.__version__ == p["ftfy"] and regex.__version__ == p["regex"]
    assert prettytable.__version__ == p["prettytable"]
    assert MODELS.get("EncoderDecoder") is EncoderDecoder and issubclass(IoUMetric, BaseMetric)


def test_environment_yml_agrees_with_constraints():
    p = pins()
    text = open(os.path.join(ROOT, "environment.yml")).read()
    listed = dict(re.findall(r"^\s+- ([A-Za-z0-9_.\-]+)==([^\s#]+)", text, flags=re.M))
    assert listed, "environment.yml lists no pinned pip packages"
    for name, version in listed.items():
        assert p.get(name) == version, f"environment.yml pins {name}=={version}, constraints {p.get(name)}"


def test_compiled_dcnv2_runs_on_cpu_and_is_a_real_deformable_conv():
    from mmcv.ops import ModulatedDeformConv2dPack, modulated_deform_conv2d

    torch.manual_seed(0)
    conv = ModulatedDeformConv2dPack(4, 6, 3, padding=1, deform_groups=1)
    x = torch.randn(2, 4, 9, 11)
    # freshly built: zero offsets and mask logits -> mask 0.5 -> half a plain conv + bias
    expected = 0.5 * F.conv2d(x, conv.weight, None, padding=1) + conv.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(conv(x), expected, atol=1e-4, rtol=1e-4)
    # an offset of +1 row at every tap moves the output up by one row:
    # out[r] == conv(x)[r + 1] (a plain conv, or an ignored offset, would fail this)
    offset = torch.zeros(2, 18, 9, 11)
    offset[:, 0::2] = 1.0  # (dy, dx) pairs
    mask = torch.ones(2, 9, 9, 11)
    out = modulated_deform_conv2d(x, offset, mask, conv.weight, None, 1, 1, 1, 1, 1)
    plain = F.conv2d(x, conv.weight, None, padding=1)
    torch.testing.assert_close(out[:, :, :-1], plain[:, :, 1:], atol=1e-4, rtol=1e-4)
    assert (out[:, :, :-1] - plain[:, :, :-1]).abs().max() > 0.1


def test_compiled_nms_rotated_runs_on_cpu():
    from mmcv.ops import nms_rotated

    boxes = torch.tensor(
        [
            [10.0, 10.0, 8.0, 4.0, 0.0],
            [10.2, 10.1, 8.0, 4.0, 0.05],  # overlaps box 0 heavily
            [30.0, 30.0, 8.0, 4.0, math.pi / 4],
            [10.0, 10.0, 8.0, 4.0, math.pi / 2],  # same centre, rotated 90 deg: IoU 1/3
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    _, keep = nms_rotated(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2, 3]
    _, keep = nms_rotated(boxes, scores, iou_threshold=0.3)
    assert keep.tolist() == [0, 2]


@pytest.fixture(scope="module")
def fcos3d():
    from mono3d_fixtures import build_model

    model, cfg = build_model(BASE_CONFIG)
    return model, cfg


def test_fcos3d_r50_dcn_builds_from_mmdet3d_bases(fcos3d):
    from mmcv.ops import ModulatedDeformConv2dPack

    model, cfg = fcos3d
    assert type(model).__name__ == "FCOSMono3D"
    assert cfg.model.backbone.depth == 50
    assert cfg.model.data_preprocessor.mean == [103.530, 116.280, 123.675]
    stages = [model.backbone.layer1, model.backbone.layer2, model.backbone.layer3, model.backbone.layer4]
    for i, stage in enumerate(stages):
        dcn = [m for m in stage.modules() if isinstance(m, ModulatedDeformConv2dPack)]
        if i < 2:
            assert not dcn, f"stage {i + 1} must not use DCN"
        else:
            assert len(dcn) == len(stage), f"stage {i + 1}: every block's conv2 must be DCNv2"


def test_fcos3d_loss_backward_and_predict_on_cpu(fcos3d):
    from mmcv.ops import ModulatedDeformConv2dPack

    model, _ = fcos3d
    model.train()
    inputs, samples = make_batch((180, 320), batch=1)
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total) and total > 0
    for k, v in losses.items():
        assert torch.isfinite(v).all(), k
    model.zero_grad()
    total.backward()
    dcn = next(m for m in model.backbone.layer3.modules() if isinstance(m, ModulatedDeformConv2dPack))
    assert dcn.weight.grad is not None and dcn.weight.grad.abs().sum() > 0

    model.eval()
    model.bbox_head.test_cfg.score_thr = 0.0
    inputs, samples = make_batch((180, 320), batch=1, with_gt=False)
    with torch.no_grad():
        out = model.predict(inputs, samples)
    pred = out[0].pred_instances_3d
    assert len(pred.bboxes_3d) > 0
    assert pred.bboxes_3d.tensor.shape[1] == 9
    assert torch.isfinite(pred.bboxes_3d.tensor).all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a visible GPU gives the architecture")
def test_cuda_build_without_a_gpu_requires_the_architectures():
    """LZU_CUDA_OPS=1 on a GPU-less host: refuse, naming TORCH_CUDA_ARCH_LIST, before compiling."""
    import shutil
    import subprocess
    import sys

    if shutil.which("nvcc") is None:
        pytest.skip("no nvcc on PATH")
    env = {k: v for k, v in os.environ.items() if k != "TORCH_CUDA_ARCH_LIST"}
    env.update(LZU_CUDA_OPS="1", LZU_PYTHON=sys.executable, LZU_CACHE_DIR="/nonexistent-lzu-cache")
    result = subprocess.run(["bash", os.path.join(ROOT, "mmdetection3d", "install.sh")], env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "TORCH_CUDA_ARCH_LIST" in result.stderr and "every architecture" in result.stderr
    assert "building mmcv" not in result.stdout
