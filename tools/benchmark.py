"""Accuracy-latency benchmark: per-image latency joined with each experiment's accuracy.

    python tools/benchmark.py configs/fcos3d_0.75.py configs/lzu_fcos3d_0.75.py \
        [--checkpoints A.pth B.pth] [--metrics A.json B.json] [--fake-inputs] --out-dir work_dirs/benchmark

Latency is measured as the paper did: batch size 1, model forward only
(``predict``: zoom, backbone+neck, unzoom, head+NMS), after warm-up; CUDA is
synchronised before every clock read, CPU runs with a fixed thread count.
Data loading (+ preprocessing) is timed separately. NDS comes from each
experiment's metrics JSON written by tools/test.py (default: the newest
``work_dirs/<name>/metrics_*.json``); for 2-D detection its AP, for segmentation its
mIoU. Any experiment config works: mono-3D (nuScenes), 2-D detection (COCO json) and
segmentation (image folders); without its data, inputs are random frames of the task's
size (--frame-size) run through the config's own test pipeline. Writes benchmark.json, benchmark.md and
accuracy_latency.png; LZU's overhead over the baseline at the same scale is
reported as a ratio measured in the same run.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import argparse
import glob
import os
import os.path as osp
import statistics

import numpy as np
import torch

from lzu.apis.metrics_record import read_metrics_file
from lzu.apis.runtime import DictAction, build_model, load_config
from lzu.infra.atomic_io import atomic_open, atomic_savefig, atomic_write_json
from lzu.infra.cli import run_main
from lzu.infra.cpu import cpu_threads
from lzu.infra.output_paths import check_output_folder
from lzu.infra.records import read_json_record, record_error
from lzu.infra.timing import Clock
from lzu.openmmlab.latency import is_lzu, measure_latencies, model_scale

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

NUSC_K = np.array([[1266.417, 0.0, 816.267], [0.0, 1266.417, 491.507], [0.0, 0.0, 1.0]])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("configs", nargs="+")
    p.add_argument("--checkpoints", nargs="*", default=[], help="one per config (optional)")
    p.add_argument("--metrics", nargs="*", default=[], help="metrics JSON per config (optional)")
    p.add_argument("--data-root", help="dataset root for real inputs")
    p.add_argument("--fake-inputs", action="store_true", help="random images of the right size")
    p.add_argument("--frame-size", type=int, nargs=2, metavar=("W", "H"),
                   help="size of the random frames (default: the task's: nuScenes 1600x900, "
                        "Argoverse-HD 1920x1200, Cityscapes 2048x1024)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=cpu_threads(),
                   help="CPU threads (fixed; default: the cores this process may use)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--out-dir", default="work_dirs/benchmark")
    p.add_argument("--paper-results", default=osp.join(ROOT, "docs", "paper_results.json"),
                   help="JSON {'uniform': [[ms, NDS], ...], 'lzu': [...]} drawn next to this run "
                        "(default: the paper's numbers, docs/paper_results.json; '' for none)")
    p.add_argument("--saliency", help="saliency file for the LZU configs (overrides theirs)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, help="applied to every config")
    return p.parse_args(argv)


def build(cfg, checkpoint, device):
    model = build_model(cfg, checkpoint)
    if not checkpoint:
        # no weights: at least the head's prior (cls bias) as in training, so NMS
        # sees a realistic number of boxes instead of every random-init anchor
        model.init_weights()
    return model.to(device).eval()


def share_weights(model, shared):
    """Give models of one architecture the same weights (LZU adds no parameters).

    Without checkpoints every model would get its own random weights, and the
    number of boxes reaching NMS -- part of the latency -- would differ between
    a baseline and its LZU twin for no reason but the initialisation.
    """
    key = tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())
    if key in shared:
        model.load_state_dict(shared[key], strict=True)
    else:
        shared[key] = model.state_dict()


#: frame size (W, H) of each task's dataset, for random inputs
FRAME_SIZES = {"mono3d": (1600, 900), "det2d": (1920, 1200), "seg": (2048, 1024)}
#: the frame width every row's scale is given against: the paper's nuScenes frames
SCALE_WIDTH = FRAME_SIZES["mono3d"][0]


def task_of(model):
    """``'seg'`` (mmseg segmentor), ``'mono3d'`` (mmdet3d detector) or ``'det2d'`` (mmdet)."""
    if hasattr(model, "decode_head"):
        return "seg"
    from mmdet3d.models.detectors.base import Base3DDetector

    return "mono3d" if isinstance(model, Base3DDetector) else "det2d"


def data_available(cfg):
    """Whether the test set is on disk: its annotation file, or (folder datasets) its images."""
    dataset = cfg.test_dataloader.dataset
    while "dataset" in dataset:
        dataset = dataset.dataset
    root = dataset.get("data_root", "")
    if dataset.get("ann_file"):
        return osp.isfile(osp.join(root, dataset.ann_file))
    prefix = dataset.get("data_prefix") or {}
    folder = osp.join(root, prefix.get("img_path", prefix.get("img", "")))
    return osp.isdir(folder) and any(files for _, _, files in os.walk(folder))


def fake_batches(cfg, model, n, frame_size=None):
    """Random frames of the task's size; returns ``(batches, None)``."""
    task = task_of(model)
    if task == "mono3d":
        return fake_mono3d_batches(cfg, model, n, frame_size or FRAME_SIZES[task])
    return fake_pipeline_batches(cfg, model, n, frame_size or FRAME_SIZES[task])


def fake_pipeline_batches(cfg, model, n, frame_size):
    """Random ``frame_size`` (W, H) images (and empty annotations) through the config's own
    test pipeline and data preprocessor: the inputs a 2-D detector or a segmentor gets."""
    import tempfile

    from mmengine.dataset import Compose, pseudo_collate
    from PIL import Image

    w, h = frame_size
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    rng = np.random.default_rng(0)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        label = osp.join(tmp, "label.png")
        Image.fromarray(np.zeros((h, w), np.uint8)).save(label)
        for i in range(n):
            path = osp.join(tmp, f"{i}.png")
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
            info = dict(img_path=path, img_id=i, width=w, height=h, instances=[],
                        seg_map_path=label, reduce_zero_label=False, seg_fields=[],
                        label_map=None, sample_idx=i)
            data = pseudo_collate([pipeline(info)])
            batch = model.data_preprocessor(data, False)
            out.append((batch["inputs"], batch["data_samples"]))
    return out, None


def fake_mono3d_batches(cfg, model, n, frame_size):
    """Random uint8 images at the size the config's test pipeline produces (nuScenes camera)."""
    from mmdet3d.structures import CameraInstance3DBoxes, Det3DDataSample

    s = 1.0 if is_lzu(model) else model_scale(cfg, SCALE_WIDTH)
    h, w = round(frame_size[1] * s), round(frame_size[0] * s)
    k = NUSC_K.copy()
    k[:2] *= s
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        meta = dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(s, s), cam2img=k.tolist(),
                    box_type_3d=CameraInstance3DBoxes)
        img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
        data = {"inputs": {"img": [img]}, "data_samples": [Det3DDataSample(metainfo=meta)]}
        batch = model.data_preprocessor(data, False)
        out.append((batch["inputs"], batch["data_samples"]))
    return out, None


def loader_batches(cfg, model, n):
    """Real test images; returns batches and the median data time (load + preprocess)."""
    from mmengine.runner import Runner

    loader_cfg = dict(cfg.test_dataloader, batch_size=1, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    out, times = [], []
    it = iter(loader)
    clock = Clock("cpu")  # data loading and preprocessing run on the CPU
    for _ in range(min(n, len(loader))):
        t0 = clock()
        batch = model.data_preprocessor(next(it), False)
        times.append((clock() - t0) * 1e3)
        out.append((batch["inputs"], batch["data_samples"]))
    return out, statistics.median(times)


def newest_metrics(name):
    hits = sorted(glob.glob(osp.join(ROOT, "work_dirs", name, "metrics_*.json")), key=osp.getmtime)
    return hits[-1] if hits else None


def read_summary(path):
    """The ``summary`` of a metrics file of tools/test.py ({} when there is none)."""
    if not path or not osp.isfile(path):
        return {}
    return read_metrics_file(path, fix="give another --metrics file, or evaluate again with "
                             "tools/test.py")


def read_paper_results(path):
    """``--paper-results``: ``{'uniform': [[ms, score], ...], 'lzu': [...]}``, checked."""
    fix = "give a file like docs/paper_results.json, or '' for none"
    paper = read_json_record(path, "--paper-results", fix, {"uniform": list, "lzu": list})
    for family in ("uniform", "lzu"):
        for point in paper[family]:
            if not (isinstance(point, list) and len(point) == 2 and all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in point)):
                raise record_error(path, "--paper-results", f"has a '{family}' entry {point!r} "
                                   "that is not [ms, score]", fix)
    return paper


def overheads(rows):
    """Per scale with both models: LZU latency / uniform latency, and the same ratio
    counting only LZU's own ops, ``1 + zoom_ms / uniform latency``."""
    by = {(r["family"], r["scale"]): r for r in rows}
    ratios, own = {}, {}
    for (family, scale), r in by.items():
        base = by.get(("uniform", scale))
        if family == "lzu" and base:
            ratios[f"{scale:g}"] = r["latency_ms"] / base["latency_ms"]
            own[f"{scale:g}"] = 1.0 + r["zoom_ms"] / base["latency_ms"]
    return ratios, own


#: each task's headline accuracy in a metrics summary (tools/test.py)
ACCURACY_KEYS = ("NDS", "AP", "mIoU")


def markdown(rows, ratios, own, device, threads):
    names = {r.get("accuracy_key") for r in rows if r.get("accuracy_key")}
    metric = names.pop() if len(names) == 1 else "accuracy"
    lines = [
        f"Latency: batch 1, model forward only, median (p90) ms on `{device}`"
        + (f" with {threads} threads" if device == "cpu" else "") + ".",
        "",
        f"| experiment | scale | {metric} | mAP | latency ms | p90 ms | zoom+unzoom ms "
        "| backbone+neck ms "
        "| head+NMS ms (head / decode+NMS) | data ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    def f(r, key, fmt="{:.4f}"):
        return fmt.format(r[key]) if r.get(key) is not None else "–"

    for r in rows:
        lines.append(
            f"| {r['name']} | {r['scale']:g} | {f(r, 'accuracy')} | {f(r, 'mAP')} "
            f"| {f(r, 'latency_ms', '{:.1f}')} | {f(r, 'latency_p90_ms', '{:.1f}')} "
            f"| {f(r, 'zoom_ms', '{:.2f}')} | {f(r, 'backbone_neck_ms', '{:.1f}')} "
            f"| {f(r, 'head_ms', '{:.1f}')} ({f(r, 'head_forward_ms', '{:.1f}')} / "
            f"{f(r, 'postprocess_ms', '{:.1f}')}) | {f(r, 'data_ms', '{:.1f}')} |"
        )
    if ratios:
        lines += ["", "LZU overhead (LZU / uniform latency, same scale, same run): "
                  + ", ".join(f"{s}x: {v:.3f}x" for s, v in sorted(ratios.items())),
                  "", "of which zoom + unzoom (1 + their time / uniform latency): "
                  + ", ".join(f"{s}x: {v:.4f}x" for s, v in sorted(own.items()))]
    return "\n".join(lines) + "\n"


def plot(rows, path, paper=None):
    """Accuracy vs latency; the paper's curve (nuScenes NDS) only next to NDS."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {r.get("accuracy_key") for r in rows if r.get("accuracy_key")}
    metric = names.pop() if len(names) == 1 else "accuracy"
    fig, ax = plt.subplots(figsize=(6, 4.2))
    styles = {"uniform": ("tab:blue", "o", "uniform downsampling"), "lzu": ("tab:red", "s", "LZU")}
    for family, (color, marker, label) in styles.items():
        pts = sorted((r["latency_ms"], r["accuracy"], r["scale"]) for r in rows
                     if r["family"] == family and r.get("accuracy") is not None)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color,
                    label=f"{label} (this run)")
            for x, y, s in pts:
                ax.annotate(f"{s:g}x", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if paper and paper.get(family) and metric == "NDS":
            xs, ys = zip(*sorted(paper[family]), strict=True)
            ax.plot(xs, ys, marker=marker, color=color, linestyle="--", alpha=0.5,
                    label=f"{label} (paper)")
    ax.set_xlabel("latency per image (ms)")
    ax.set_ylabel(metric)
    ax.set_title("Accuracy vs latency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)


def main(argv=None):
    args = parse_args(argv)
    check_output_folder(args.out_dir, "--out-dir")
    paper = read_paper_results(args.paper_results) if args.paper_results else None
    import lzu.openmmlab  # noqa: F401

    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows, runs, shared = [], [], {}
    distinct = min(args.warmup + args.iters, 8)
    for i, config in enumerate(args.configs):
        name = osp.splitext(osp.basename(config))[0]
        cfg = load_config(config, args.cfg_options, args.data_root)
        if args.saliency and cfg.model.get("grid_generator") is not None:
            cfg.model.grid_generator.saliency_file = args.saliency
        ckpt = args.checkpoints[i] if i < len(args.checkpoints) else None
        model = build(cfg, ckpt, device)
        if ckpt is None:
            share_weights(model, shared)
        use_fake = args.fake_inputs or not data_available(cfg)
        if use_fake:
            batches, data_ms = fake_batches(cfg, model, distinct, args.frame_size)
        else:
            batches, data_ms = loader_batches(cfg, model, distinct)
        runs.append((model, batches))
        metrics_path = args.metrics[i] if i < len(args.metrics) else newest_metrics(name)
        summary = read_summary(metrics_path)
        key = next((k for k in ACCURACY_KEYS if k in summary), None)
        rows.append({"name": name, "config": config, "family": "lzu" if is_lzu(model) else "uniform",
                     "task": task_of(model), "scale": model_scale(cfg, SCALE_WIDTH), "data_ms": data_ms,
                     "NDS": summary.get("NDS"), "mAP": summary.get("mAP"),
                     "accuracy_key": key, "accuracy": summary.get(key) if key else None,
                     "metrics": metrics_path, "inputs": "fake" if use_fake else "dataset"})
    print(f"timing {len(runs)} models interleaved: {args.warmup} warm-up + {args.iters} iterations",
          flush=True)
    for row, lat in zip(rows, measure_latencies(runs, device, args.warmup, args.iters), strict=True):
        row.update(lat)
        print(f"{row['name']}: {lat['latency_ms']:.1f} ms (p90 {lat['latency_p90_ms']:.1f}); "
              f"zoom {lat['zoom_ms']:.2f}, backbone+neck {lat['backbone_neck_ms']:.1f}, "
              f"head {lat['head_ms']:.1f} ms; {row['accuracy_key'] or 'accuracy'} "
              f"{row['accuracy']}", flush=True)
    ratios, own = overheads(rows)
    os.makedirs(args.out_dir, exist_ok=True)
    report = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
              "rows": rows, "lzu_overhead": ratios, "lzu_zoom_unzoom_overhead": own}
    atomic_write_json(osp.join(args.out_dir, "benchmark.json"), report)
    table = markdown(rows, ratios, own, device.type, torch.get_num_threads())
    with atomic_open(osp.join(args.out_dir, "benchmark.md"), "w", encoding="utf-8") as f:
        f.write(table)
    plot(rows, osp.join(args.out_dir, "accuracy_latency.png"), paper)
    print(table)
    print(f"wrote {args.out_dir}/benchmark.json, benchmark.md, accuracy_latency.png")
    return report


if __name__ == "__main__":
    run_main(main, "benchmark")
