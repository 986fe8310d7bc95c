"""`sh run.sh demo seg`: uniform vs LZU semantic segmentation (mmseg FCN) on a synthetic Cityscapes-layout set, CPU.

    python tools/demo_seg.py --work-dir work_dirs/demo_seg [--iters 250] [--size 128] [--fresh]

1. writes the synthetic street scenes in the Cityscapes layout (1024x512 frames, 19 train ids);
2. builds the saliency from the training label maps' class boundaries
   (tools/make_saliency.py --seg-labels);
3. trains FCN (ResNetV1c-18 D8 at half width, 64-channel heads) on whole frames resized to a square
   (uniform) and zoomed to the same square (LZU);
4. scores both with mmseg's IoUMetric (PerClassIoUMetric) at the frames' full resolution
   and prints mIoU, mAcc, aAcc and the IoU of the small classes;
5. draws demo_seg.png: a validation frame, its boundary saliency, its LZU zoom, the ground
   truth and both predictions.
Reuses what exists when made with the same options (demo_options.json); --fresh starts over.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import os
import os.path as osp
import sys
import time

from lzu.apis import demos
from lzu.apis.metrics_record import read_metrics_file
from lzu.apis.runtime import cfg_option
from lzu.apis.train_score import train_and_evaluate
from lzu.infra.atomic_io import atomic_savefig
from lzu.infra.cli import run_main

MODELS = (("uniform", "configs/seg/demo/fcn_uniform_demo.py"),
          ("LZU", "configs/seg/demo/lzu_fcn_demo.py"))
KEYS = ("mIoU", "mAcc", "aAcc")
SMALL_CLASSES = ("pole", "traffic light", "traffic sign", "person", "rider", "car", "motorcycle",
                 "bicycle")
FRAME_SIZE = (512, 1024)


def set_arguments(parser):
    parser.add_argument("--size", type=int, default=128,
                        help="side of the square both models see")
    parser.add_argument("--frames", type=int, nargs=2, default=(48, 12), metavar=("TRAIN", "VAL"))


def parse_args(argv=None):
    return demos.demo_parser(__doc__.splitlines()[0], "work_dirs/demo_seg", 250,
                             set_arguments).parse_args(argv)


def schedule_options(iters, size, seed):
    """cfg-options for ``iters`` iterations (poly LR to the end) at a ``size`` x ``size`` square."""
    return [f"train_cfg.max_iters={iters}", f"train_cfg.val_interval={iters}",
            f"param_scheduler.0.end={iters}", f"default_hooks.checkpoint.interval={iters}",
            f"randomness.seed={seed}"]


def size_options(label, size):
    if label == "LZU":
        return [f"model.grid_generator.output_shape=({size},{size})"]
    square = f"({size},{size})"  # the Resize of the uniform demo's pipelines
    return [f"model.data_preprocessor.size={square}",
            f"train_dataloader.dataset.pipeline.2.scale={square}",
            f"val_dataloader.dataset.pipeline.1.scale={square}",
            f"test_dataloader.dataset.pipeline.1.scale={square}",
            f"test_pipeline.1.scale={square}"]  # what mmseg's inference_model runs


def prepare_data(py, wd, args):
    data = osp.join(wd, "data")
    saliency = osp.join(wd, "saliency.pkl")
    options = dict(train_frames=args.frames[0], val_frames=args.frames[1],
                   size=list(FRAME_SIZE), seed=args.seed)
    models = [osp.join(wd, osp.splitext(osp.basename(c))[0]) for _, c in MODELS]
    demos.ensure_synthetic(data, options, [
        py, "tools/make_synthetic_cityscapes.py", "--root", data, "--train-frames",
        str(args.frames[0]), "--val-frames", str(args.frames[1]), "--size",
        *map(str, FRAME_SIZE), "--seed", str(args.seed)], [saliency, *models], "1/5")
    if not osp.isfile(saliency):
        demos.say("2/5 building the saliency from the training labels' class boundaries")
        demos.run([py, "tools/make_saliency.py", "--seg-labels", osp.join(data, "gtFine", "train"),
                   "--out", saliency])
    else:
        demos.say(f"2/5 reusing {saliency}")
    return data, saliency


def predict(config, checkpoint, options, image_path):
    """Label map ``(H, W)`` of one image by a trained config (mmseg's init_model / inference_model)."""
    from mmseg.apis import inference_model, init_model

    import lzu.openmmlab  # noqa: F401  (registers LZUEncoderDecoder, safe checkpoint loading)
    from lzu.apis.runtime import parse_cfg_options

    model = init_model(config, checkpoint, device="cpu",
                       cfg_options=parse_cfg_options(["--cfg-options", *options]))
    return inference_model(model, image_path).pred_sem_seg.data[0].numpy()


def figure(data, saliency, size, runs, path):
    """A validation frame, its saliency, its zoom, the ground truth and both predictions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from mmseg.datasets import CityscapesDataset
    from PIL import Image

    from lzu.core.fixed_grid import FixedGrid
    from lzu.core.zoom import zoom
    from lzu.data.saliency_boundary import find_label_maps, read_label_map

    labels = find_label_maps(osp.join(data, "gtFine", "val"))
    label_path = labels[0]
    image_path = label_path.replace("gtFine", "leftImg8bit", 1).replace(
        "_gtFine_labelTrainIds.png", "_leftImg8bit.png")
    image = np.array(Image.open(image_path).convert("RGB"))
    palette = np.zeros((256, 3), np.uint8)  # ignored pixels are black
    palette[:19] = np.array(CityscapesDataset.METAINFO["palette"], np.uint8)
    preds = {label: predict(config, ckpt, opts, image_path) for label, config, ckpt, opts in runs}
    gen = FixedGrid(saliency, output_shape=(size, size), grid_shape=(32, 32))
    up, _ = gen.grids("cpu")
    img = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255.0
    zoomed = zoom(img, up)[0].permute(1, 2, 0).clamp(0, 1).numpy()
    uniform = torch.nn.functional.interpolate(img, size=(size, size), mode="bilinear",
                                              align_corners=False)[0].permute(1, 2, 0).numpy()
    panels = [
        (image, "frame 1024x512"),
        (gen.saliency[0, 0].numpy(), "boundary saliency (32x32)"),
        (zoomed, f"LZU zoom {size}x{size}"),
        (uniform.clip(0, 1), f"uniform {size}x{size}"),
        (palette[read_label_map(label_path)], "ground truth (black: ignored)"),
        (palette[preds["uniform"]], "uniform: prediction"),
        (palette[preds["LZU"]], "LZU: prediction"),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(20, 6.5))
    for ax, (array, title) in zip(axes.flat, panels, strict=False):
        ax.imshow(array, cmap="magma" if array.ndim == 2 else None, interpolation="nearest")
        ax.set_title(title)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=80)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    wd = demos.start_work_dir(args, keys=("seed", "frames", "size", "iters"))
    py = sys.executable
    data, saliency = prepare_data(py, wd, args)
    common = schedule_options(args.iters, args.size, args.seed)
    results, checkpoints, metrics_files = {}, {}, {}
    for label, config in MODELS:
        r, ckpts, files = train_and_evaluate(
            py, wd, data, [(label, config)], saliency, args.iters,
            common + size_options(label, args.size), "IoUMetric (mmseg)", 3, 5)
        results.update(r)
        checkpoints[label], metrics_files[label] = ckpts[0], files[0]
    per_class = {}
    for label, path in metrics_files.items():
        metrics = read_metrics_file(path, "metrics")
        per_class[label] = {c: metrics.get(f"IoU.{c}", float("nan")) for c in SMALL_CLASSES}

    demos.say("5/5 drawing demo_seg.png")
    runs = []
    for label, config in MODELS:
        opts = common + size_options(label, args.size)
        if label == "LZU":
            opts.append(cfg_option("model.grid_generator.saliency_file", saliency))
        runs.append((label, config, checkpoints[label], opts))
    figure(data, saliency, args.size, runs, osp.join(wd, "demo_seg.png"))

    table = demos.markdown_table("model", KEYS, [
        (label, [f"{r.get(k, float('nan')):.2f}" for k in KEYS]) for label, r in results.items()])
    cls_table = demos.markdown_table("IoU", SMALL_CLASSES, [
        (label, [f"{v:.2f}" for v in ious.values()]) for label, ious in per_class.items()])
    md = (f"Segmentation demo: FCN (ResNetV1c-18 D8, half width) on whole 1024x512 frames at "
          f"{args.size}x{args.size}, uniform vs LZU, {args.iters} iterations each, CPU; scored by "
          "mmseg's IoUMetric at full resolution (percent).\n\n" + "\n".join(table)
          + "\n\nSmall classes:\n\n" + "\n".join(cls_table) + "\n")
    demos.write_results(wd, {"iters": args.iters, "size": args.size, "results": results,
                             "small_class_iou": per_class}, md, ["demo_seg.png"])
    demos.say(f"finished in {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_main(main, "demo_seg")
