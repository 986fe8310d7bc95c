"""Benchmark the LZU core: grid generation, inversion, zoom and unzoom, per scale and mode.

    python tools/benchmark_zoom.py [--device cpu|cuda] [--threads N] [--repeats 20]
    python tools/benchmark_zoom.py --adaptive [--threads 2]
    python tools/benchmark_zoom.py --fpn [--repeats 50]

For each scale s (output s x 900x1600) and both modes it prints the median time of
* grid: saliency -> coarse grid -> upsampled sampling grid;
* invert: inverse grids for the five FCOS3D FPN levels (strides 8..128 of the
  zoomed image padded to a multiple of 32);
* zoom: grid_sample of the full-resolution 3x928x1600 image;
* unzoom: grid_sample of all five levels (256 channels);
and memory: on CUDA the allocator's peak over all of it, everywhere the size of
the cached grids LZU keeps (sampling grid + five inverse grids).

``--adaptive`` measures instead what an adaptive saliency costs per frame, where
nothing can be cached: on an Argoverse-HD frame (1920x1200) at 0.5x, the
saliency from 20 previous-frame boxes, the zoom grid and the inverse grids of
the five FPN levels, for a batch of one, next to the forward pass of a
ResNet-50-FPN backbone on the zoomed image (torchvision, random weights); it
prints the share.

``--fpn`` prints what LZU costs a whole backbone: torchvision's ResNet-50-FPN on a 1600x900
frame, uniform (the frame already downsampled) vs LZU (zoom, backbone + FPN, unzoom every
level) per scale, interleaved (``lzu.apis.fpn_latency``; the GPU check's stage 1 table).
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import argparse
import statistics
import sys

import torch

from lzu.core.adaptive_grid import AdaptiveGrid
from lzu.core.box_saliency import boxes_to_saliency
from lzu.core.unzoom import invert_grid, unzoom
from lzu.core.zoom import saliency_to_grid, upsample_grid, zoom
from lzu.infra.cli import run_main
from lzu.infra.output_paths import check_output_file
from lzu.infra.timing import Clock, interleaved

SCALES = (0.25, 0.5, 0.75, 1.0)
STRIDES = (8, 16, 32, 64, 128)


def paper_like_saliency(device):
    """Horizon-band saliency shaped like the paper's (rows 12-16 hold about half the mass)."""
    rows = torch.arange(27.0, device=device)[:, None]
    band = torch.exp(-0.5 * ((rows - 14) / 2.0) ** 2).expand(27, 48)
    s = 0.32 / (27 * 48) + 0.68 * band / band.sum()
    return (s / s.sum())[None, None]


def level_shapes(h, w, divisor=32):
    hp, wp = -(-h // divisor) * divisor, -(-w // divisor) * divisor
    shapes = []
    for stride in STRIDES:
        shapes.append((-(-hp // stride), -(-wp // stride)))
    return shapes


def timed(fn, device, repeats, warmup=3):
    return statistics.median(interleaved({"fn": fn}, Clock(device), warmup, repeats)["fn"])


def bench(scale, separable, device, repeats, channels):
    saliency = paper_like_saliency(device)
    out_shape = (round(900 * scale), round(1600 * scale))
    image = torch.randn(1, 3, 928, 1600, device=device)
    shapes = level_shapes(*out_shape)
    feats = [torch.randn(1, channels, *s, device=device) for s in shapes]

    def make_grid():
        grid = saliency_to_grid(saliency, separable=separable)
        return grid, upsample_grid(grid, out_shape)

    grid, up = make_grid()
    inverses = [invert_grid(grid, s, separable=separable) for s in shapes]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    row = {
        "scale": scale,
        "mode": "separable" if separable else "non-separable",
        "grid_ms": timed(make_grid, device, repeats),
        "invert_ms": timed(lambda: [invert_grid(grid, s, separable=separable) for s in shapes],
                           device, repeats),
        "zoom_ms": timed(lambda: zoom(image, up), device, repeats),
        "unzoom_ms": timed(lambda: [unzoom(f, i) for f, i in zip(feats, inverses, strict=True)],
                           device, repeats),
    }
    row["cached_grids_mb"] = sum(t.numel() * t.element_size() for t in [up, *inverses]) / 2**20
    if device.type == "cuda":
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return row


def bench_adaptive(device, repeats, scale=0.5, frame=(1200, 1920), n_boxes=20):
    """Per-frame cost of an adaptive saliency (grid + every inverse) vs a ResNet-50-FPN forward."""
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    g = torch.Generator().manual_seed(0)
    fh, fw = frame
    xy = torch.rand(n_boxes, 2, generator=g) * torch.tensor([fw * 0.9, fh * 0.9])
    boxes = [torch.cat([xy, xy + 10 + torch.rand(n_boxes, 2, generator=g) * 150], dim=1)]
    prior = paper_like_saliency(device).cpu()
    out_shape = (round(fh * scale), round(fw * scale))
    shapes = level_shapes(*out_shape)
    grids = AdaptiveGrid(out_shape)

    def per_frame():
        saliency = boxes_to_saliency(boxes, (fw, fh), prior=prior, prior_weight=0.2,
                                     device=device)
        up, coarse = grids.zoom_grids(saliency)
        return up, grids.inverse_grids(coarse, shapes)

    backbone = resnet_fpn_backbone(backbone_name="resnet50", weights=None).to(device).eval()
    zoomed = torch.randn(1, 3, *[-(-s // 32) * 32 for s in out_shape], device=device)
    grid_ms = timed(per_frame, device, repeats)
    forward_ms = timed(lambda: backbone(zoomed), device, max(3, repeats // 4), warmup=1)
    return {"scale": scale, "frame": frame, "boxes": n_boxes, "adaptive_grid_ms": grid_ms,
            "resnet50_fpn_ms": forward_ms, "share": grid_ms / forward_ms}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--channels", type=int, default=256, help="FPN channels for unzoom")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--adaptive", action="store_true",
                   help="per-frame cost of an adaptive saliency instead (see the docstring)")
    p.add_argument("--fpn", action="store_true",
                   help="ResNet-50-FPN latency, uniform vs LZU per scale, instead (the docstring)")
    args = p.parse_args(argv)
    if args.json:
        check_output_file(args.json, "--json")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device} | threads {torch.get_num_threads()} | torch {torch.__version__}")
    if args.fpn:
        from lzu.apis.fpn_latency import latency_table, measure_fpn_latency

        lat = measure_fpn_latency(device, (900, 1600), SCALES, warmup=3, iters=args.repeats)
        print("\n".join(latency_table(lat)))
        if args.json:
            from lzu.infra.atomic_io import atomic_write_json

            atomic_write_json(args.json, {"device": str(device), "fpn": lat})
        return lat["rows"]
    if args.adaptive:
        with torch.no_grad():
            r = bench_adaptive(device, args.repeats)
        print(f"adaptive saliency + grid + 5 inverse grids: {r['adaptive_grid_ms']:.2f} ms per "
              f"frame ({r['boxes']} boxes, {r['frame'][1]}x{r['frame'][0]} at {r['scale']}x); "
              f"ResNet-50-FPN forward: {r['resnet50_fpn_ms']:.1f} ms; share {100 * r['share']:.2f} %")
        if args.json:
            from lzu.infra.atomic_io import atomic_write_json

            atomic_write_json(args.json, {"device": str(device), "adaptive": r})
        return [r]
    head = (f"{'scale':>5} {'mode':>13} {'grid ms':>8} {'invert5':>8} {'zoom ms':>8} "
            f"{'unzoom5':>8} {'grids MB':>8} {'peak MB':>8}")
    print(head + "\n" + "-" * len(head))
    rows = []
    with torch.no_grad():
        for scale in SCALES:
            for separable in (True, False):
                r = bench(scale, separable, device, args.repeats, args.channels)
                rows.append(r)
                peak = f"{r['cuda_peak_mb']:8.1f}" if "cuda_peak_mb" in r else f"{'-':>8}"
                print(f"{scale:>5} {r['mode']:>13} {r['grid_ms']:>8.2f} {r['invert_ms']:>8.2f} "
                      f"{r['zoom_ms']:>8.2f} {r['unzoom_ms']:>8.2f} {r['cached_grids_mb']:>8.1f} {peak}")
    print("(times: median ms per call, batch 1)")
    if args.json:
        from lzu.infra.atomic_io import atomic_write_json

        atomic_write_json(args.json, {"device": str(device), "rows": rows})
    return rows


if __name__ == "__main__":
    sys.exit(0 if run_main(main, "benchmark_zoom") else 1)
