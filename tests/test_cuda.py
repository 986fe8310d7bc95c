"""The CUDA path of the OpenMMLab stack: compiled mmcv CUDA ops, LZUFCOSMono3D, LZUEncoderDecoder, metric and AMP training on a GPU.

Every test here compares the GPU with the CPU on the same inputs and weights. They
skip, with the reason, on machines without CUDA (the project's CI); on a GPU they
are real. ``test_mmcv_reports_its_cuda_build`` says whether mmcv's ops were built
with CUDA at all. The plain-PyTorch part (zoom, inverse grids, unzoom) is
``tests/test_cuda_core.py``.
"""

import copy
import math
import os.path as osp
import re

import pytest
import torch
from conftest import ROOT, run_tool
from mono3d_fixtures import build_model, make_batch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_mmcv_reports_its_cuda_build():
    from mmcv.ops import get_compiler_version, get_compiling_cuda_version

    assert get_compiling_cuda_version() not in ("", "not available"), (
        "mmcv's ops were built without CUDA: rebuild with LZU_CUDA_OPS=1 (mmdetection3d/README.md)")
    assert get_compiler_version()


def test_dcnv2_on_cuda_equals_cpu():
    from mmcv.ops import ModulatedDeformConv2dPack

    torch.manual_seed(0)
    conv = ModulatedDeformConv2dPack(8, 16, 3, padding=1, deform_groups=1)
    torch.nn.init.normal_(conv.conv_offset.weight, std=0.1)  # non-trivial offsets and masks
    x = torch.randn(2, 8, 19, 23)
    cpu = conv(x)
    gpu = copy.deepcopy(conv).cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)


def test_nms_rotated_on_cuda_equals_cpu():
    from mmcv.ops import nms_rotated

    g = torch.Generator().manual_seed(0)
    boxes = torch.cat([torch.rand(200, 2, generator=g) * 50, 2 + torch.rand(200, 2, generator=g) * 8,
                       (torch.rand(200, 1, generator=g) - 0.5) * math.pi], dim=1)
    scores = torch.rand(200, generator=g)
    _, keep_cpu = nms_rotated(boxes, scores, 0.3)
    _, keep_gpu = nms_rotated(boxes.cuda(), scores.cuda(), 0.3)
    assert keep_gpu.cpu().tolist() == keep_cpu.tolist()


def test_lzu_fcos3d_predict_on_cuda_equals_cpu(tmp_path):
    from lzu.apis.runtime import load_config

    config = osp.join(ROOT, "configs", "lzu_fcos3d_0.25.py")
    grid = dict(load_config(config).model.grid_generator, saliency_file=osp.join(ROOT, "saliency.pkl"),
                output_shape=(90, 160))
    model, _ = build_model(config, grid_generator=grid)
    model.eval()
    model.bbox_head.test_cfg.score_thr = 0.0
    outs = {}
    for device in ("cpu", "cuda"):
        inputs, samples = make_batch((360, 640), batch=1, with_gt=False)
        inputs = {"imgs": inputs["imgs"].to(device)}
        with torch.no_grad():
            outs[device] = model.to(device).predict(inputs, samples)[0].pred_instances_3d
    cpu, gpu = outs["cpu"], outs["cuda"]
    top_c = cpu.scores_3d.argsort(descending=True)[:20]
    top_g = gpu.scores_3d.argsort(descending=True)[:20]
    torch.testing.assert_close(gpu.scores_3d[top_g].cpu(), cpu.scores_3d[top_c], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(gpu.bboxes_3d.tensor[top_g].cpu(), cpu.bboxes_3d.tensor[top_c],
                               atol=1e-2, rtol=1e-3)


def test_nuscenes_metric_on_cuda_tensors(synthetic_root, tmp_path):
    from mono3d_fixtures import gt_as_predictions, load_pkl, nds_of

    data_list = load_pkl(osp.join(synthetic_root, "nuscenes_infos_val.pkl"))["data_list"]
    results = gt_as_predictions(data_list)
    for r in results:
        r["pred_instances_3d"] = r["pred_instances_3d"].to("cuda")
    nds, out = nds_of(results, synthetic_root, tmp_path)
    assert nds > 0.9, out


def test_one_amp_training_iteration_is_finite(synthetic_root, tmp_path):
    result = run_tool(["tools/train.py", "configs/demo/lzu_fcos3d_demo.py", "--amp", "--data-root",
                       synthetic_root, "--work-dir", str(tmp_path / "w"), "--cfg-options",
                       "train_cfg.max_iters=1", "default_hooks.logger.interval=1",
                       f"model.grid_generator.saliency_file={osp.join(ROOT, 'saliency.pkl')}",
                       "val_cfg=None", "val_dataloader=None", "val_evaluator=None",
                       "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    losses = [float(x) for x in re.findall(r" loss: ([0-9.naninf+-]+)", out)]
    assert losses and all(math.isfinite(v) for v in losses), out[-2000:]


def test_lzu_segmentor_on_cuda_equals_cpu():
    """LZUEncoderDecoder: training loss (labels resized on the host) and predictions."""
    from seg_fixtures import build, label_field, model_cfg, peaked_saliency, seg_samples

    torch.manual_seed(0)
    cpu = build(model_cfg(True, (48, 64), peaked_saliency()))
    gpu = copy.deepcopy(cpu).cuda()
    imgs = torch.rand(2, 3, 96, 128) * 255
    labels = [torch.from_numpy(label_field(96, 128, s)).long() for s in (0, 1)]
    loss_cpu = cpu.loss(imgs, seg_samples((96, 128), 2, labels))
    loss_gpu = gpu.loss(imgs.cuda(), seg_samples((96, 128), 2, [x.cuda() for x in labels]))
    for key, value in loss_cpu.items():
        torch.testing.assert_close(loss_gpu[key].cpu(), value, atol=1e-3, rtol=1e-3)
    cpu.eval(), gpu.eval()
    with torch.no_grad():
        out_cpu = cpu.predict(imgs, seg_samples((96, 128), 2, ori_shape=(192, 256)))
        out_gpu = gpu.predict(imgs.cuda(), seg_samples((96, 128), 2, ori_shape=(192, 256)))
    for a, b in zip(out_gpu, out_cpu, strict=True):
        assert a.pred_sem_seg.data.shape == (1, 192, 256)
        torch.testing.assert_close(a.seg_logits.data.cpu(), b.seg_logits.data, atol=1e-3,
                                   rtol=1e-3)
