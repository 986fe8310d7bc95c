"""LZU's cost on a plain backbone: torchvision's ResNet-50-FPN, uniform vs LZU, per scale.

``measure_fpn_latency`` builds one ResNet-50-FPN (random weights, eval, batch 1) and, for each
scale ``s``, two models: *uniform* runs it on an image already downsampled to ``s`` of the
frame (padded to a multiple of 32); *LZU* zooms the full frame to that size (the paper's
``saliency.pkl``, separable, ``border='paper'``), runs the backbone + FPN and unzooms every
level. All models are timed interleaved (``lzu.infra.timing.interleaved``), CUDA synchronised
around every call; then zoom's and unzoom's own time in a second loop. Each row holds the
median and p90 in ms, ``ratio`` (LZU / uniform medians) and ``zoom_unzoom_share`` of LZU's
median. Plain PyTorch and torchvision: no OpenMMLab package is imported.
"""

import os.path as osp
import statistics

import torch

from lzu.core.fixed_grid import FixedGrid
from lzu.core.wrapper import LZU
from lzu.infra.timing import Clock, interleaved, percentile

__all__ = ["PAPER_SALIENCY", "latency_table", "measure_fpn_latency"]

#: the paper's fixed nuScenes saliency, shipped at the repository's root
PAPER_SALIENCY = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                          "saliency.pkl")


def _pad(n, divisor=32):
    return -(-n // divisor) * divisor


def measure_fpn_latency(device, image_hw, scales, warmup, iters, saliency=PAPER_SALIENCY):
    """``{"device", "image" ("WxH"), "warmup", "iters", "rows"}``, one row per scale (above)."""
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    clock = Clock(device)
    torch.manual_seed(0)
    net = resnet_fpn_backbone(backbone_name="resnet50", weights=None).to(device).eval()
    h, w = image_hw
    full = torch.rand(1, 3, _pad(h), _pad(w), device=device)
    calls, lzus = {}, {}
    for s in scales:
        oh, ow = round(h * s), round(w * s)
        small = torch.rand(1, 3, _pad(oh), _pad(ow), device=device)
        lzu = LZU(FixedGrid(saliency, output_shape=(oh, ow), separable=True), border="paper",
                  region="padded", pad_size_divisor=32)
        lzus[s] = lzu

        def zoomed(lzu=lzu):
            z, state = lzu.zoom(full)
            return lzu.unzoom(net(z), state)

        calls[(s, "uniform")] = lambda x=small: net(x)
        calls[(s, "lzu")] = zoomed
    parts = {s: {"zoom": [], "unzoom": []} for s in scales}
    with torch.no_grad():
        times = interleaved(calls, clock, warmup, iters)
        for _ in range(iters):
            for s, lzu in lzus.items():
                t0 = clock()
                z, state = lzu.zoom(full)
                t1 = clock()
                feats = net(z)
                t2 = clock()
                lzu.unzoom(feats, state)
                t3 = clock()
                parts[s]["zoom"].append((t1 - t0) * 1e3)
                parts[s]["unzoom"].append((t3 - t2) * 1e3)
    rows = []
    for s in scales:
        u, z = times[(s, "uniform")], times[(s, "lzu")]
        zoom_ms, unzoom_ms = statistics.median(parts[s]["zoom"]), statistics.median(parts[s]["unzoom"])
        rows.append({
            "scale": s, "uniform_ms": statistics.median(u), "uniform_p90_ms": percentile(u, 90),
            "lzu_ms": statistics.median(z), "lzu_p90_ms": percentile(z, 90),
            "ratio": statistics.median(z) / statistics.median(u), "zoom_ms": zoom_ms,
            "unzoom_ms": unzoom_ms, "zoom_unzoom_share": (zoom_ms + unzoom_ms) / statistics.median(z),
        })
    return {"device": str(device), "image": f"{w}x{h}", "warmup": warmup, "iters": iters,
            "rows": rows}


def latency_table(lat):
    """Markdown lines of ``measure_fpn_latency``'s result: median (p90) ms per scale."""
    lines = [f"ResNet-50-FPN latency on {lat['device']}, input {lat['image']} (padded to 32), "
             f"batch 1, fp32, {lat['warmup']} warm-up + {lat['iters']} interleaved iterations: "
             "median (p90) ms.", "",
             "| scale | uniform | LZU | LZU / uniform | zoom ms | unzoom ms | zoom+unzoom share of LZU |",
             "|---|---|---|---|---|---|---|"]
    for r in lat["rows"]:
        lines.append(f"| {r['scale']} | {r['uniform_ms']:.2f} ({r['uniform_p90_ms']:.2f}) | "
                     f"{r['lzu_ms']:.2f} ({r['lzu_p90_ms']:.2f}) | {r['ratio']:.3f} | "
                     f"{r['zoom_ms']:.3f} | {r['unzoom_ms']:.3f} | {100 * r['zoom_unzoom_share']:.1f} % |")
    return lines
