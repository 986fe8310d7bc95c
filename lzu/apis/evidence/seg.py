"""Evidence task "seg": semantic segmentation (mmseg FCN), uniform vs LZU, mIoU by mmseg's IoUMetric.

Data: the street-scene Cityscapes-layout set (lzu/data/synthetic/cityscapes_writer.py) at
512x288, fixed (seed 0) for every run. Saliency: how often each pixel lies on a class
boundary of the training label maps (tools/make_saliency.py --seg-labels). Cells: output
0.25x (128x72) and 0.5x (256x144) of the frame; scored at the frames' full resolution.
The task-module contract is in ``lzu.apis.evidence``.
"""

import os
import os.path as osp

import numpy as np

from lzu.apis.evidence.common import (
    run_saliency_tool,
    set_pipeline_resize,
    size_stats,
    train_and_test,
)
from lzu.data.saliency_boundary import find_label_maps, read_label_map
from lzu.data.synthetic.cityscapes_writer import CLASSES, write_synthetic_cityscapes
from lzu.data.synthetic.completion import check_complete
from lzu.infra.workdir import file_sha256

NAME = "seg"
#: the classes whose objects are small in these frames (and in Cityscapes)
SMALL_CLASSES = ("pole", "traffic light", "traffic sign", "person", "rider", "motorcycle",
                 "bicycle")
METRICS = ("mIoU", "mIoU_small", "aAcc", "IoU.car", "IoU.person", "IoU.road")
SMALL_METRICS = ("mIoU_small",)
#: the one comparison declared before running (cell, method, metric): reported with its
#: plain 95 % interval; every other one is Holm-corrected (tools/evidence.py)
PRIMARY = ("seg@0.25", "lzu", "mIoU")
METRIC_UNIT = "percent"  # every metric, 0-100
FRAME = (288, 512)  # (H, W)
CONFIGS = {"uniform": "configs/evidence/seg_uniform.py", "lzu": "configs/evidence/seg_lzu.py"}
#: classes whose connected components count as objects in the size statistics
THINGS = ("pole", "traffic light", "traffic sign", "person", "rider", "car", "truck", "bus",
          "motorcycle", "bicycle")


def _frames(quick):
    return (32, 12) if quick else (160, 40)


def _iters(quick):
    return 30 if quick else 400


def _options(quick):
    train, val = _frames(quick)
    return dict(train_frames=train, val_frames=val, size=list(FRAME), seed=0)


def label_object_sizes(label_dir):
    """``(widths, heights)`` of the thing classes' connected components (8-connected) in the
    label maps under ``label_dir``: the objects as the labels show them (occluded parts cut)."""
    import cv2

    widths, heights = [], []
    ids = [CLASSES.index(c) for c in THINGS]
    for path in find_label_maps(label_dir):
        label = read_label_map(path)
        for i in ids:
            n, _, stats, _ = cv2.connectedComponentsWithStats((label == i).astype(np.uint8), 8)
            widths += stats[1:n, cv2.CC_STAT_WIDTH].tolist()
            heights += stats[1:n, cv2.CC_STAT_HEIGHT].tolist()
    return widths, heights


def prepare(work_dir, quick, log):
    root = osp.join(work_dir, "data")
    saliency = osp.join(work_dir, "saliency.pkl")
    options = _options(quick)
    if check_complete(root, options) is not None:
        log(f"  writing the street set (Cityscapes layout) under {root}")
        write_synthetic_cityscapes(root, **options)
        if osp.isfile(saliency):
            os.unlink(saliency)
    else:
        log(f"  reusing the street set under {root} (complete, same options)")
    if not osp.isfile(saliency):
        log("  building saliency.pkl: class boundaries of the training labels (make_saliency "
            "--seg-labels)")
        run_saliency_tool(["--seg-labels", osp.join(root, "gtFine", "train"), "--out", saliency],
                          log)
    w, h = label_object_sizes(osp.join(root, "gtFine", "train"))
    data = {"frame_WxH": [FRAME[1], FRAME[0]], "objects": "8-connected components of "
            + ", ".join(THINGS) + " in the training label maps", "full": size_stats(w, h)}
    for s in (0.25, 0.5):
        data[f"x{s:.2f}"] = size_stats([v * s for v in w], [v * s for v in h])
    data["options"] = options
    return {"saliency_sha256": file_sha256(saliency), "data": data}


def cells(quick):
    scales = (0.25,) if quick else (0.25, 0.5)
    return [{"cell": f"seg@{s:.2f}", "method": m, "scale": s, "input_scale": 1.0}
            for s in scales for m in ("uniform", "lzu")]


def run(work_dir, cell, seed, quick, log):
    root = osp.join(work_dir, "data")
    saliency = osp.join(work_dir, "saliency.pkl")
    out_h, out_w = (round(FRAME[0] * cell["scale"]), round(FRAME[1] * cell["scale"]))

    def edit(cfg):
        for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
            cfg[key]["dataset"]["data_root"] = root + "/"
        if cell["method"] == "uniform":
            if set_pipeline_resize(cfg, (out_w, out_h)) != 3:
                raise RuntimeError(f"{CONFIGS['uniform']}: expected one Resize per pipeline")
            cfg.model["data_preprocessor"]["size"] = (out_h, out_w)
        else:
            cfg.model["grid_generator"]["output_shape"] = (out_h, out_w)
            cfg.model["grid_generator"]["saliency_file"] = saliency

    name = f"{cell['cell']}_{cell['method']}_s{seed}"
    raw, sha, seconds = train_and_test(CONFIGS[cell["method"]], edit, work_dir, seed,
                                       _iters(quick), log, name)
    small = [raw.get(f"IoU.{c}") for c in SMALL_CLASSES]
    small = [v for v in small if v is not None and not np.isnan(v)]
    metrics = {"mIoU": raw.get("mIoU"), "aAcc": raw.get("aAcc"),
               "mIoU_small": float(np.mean(small)) if small else None}
    for key in ("IoU.car", "IoU.person", "IoU.road"):
        v = raw.get(key)
        metrics[key] = None if v is None or np.isnan(v) else float(v)
    return {"metrics": metrics, "config_sha256": sha, "iters": _iters(quick), "seconds": seconds,
            "output_HxW": [out_h, out_w], "small_classes": list(SMALL_CLASSES),
            "per_class_iou": {k: v for k, v in raw.items() if k.startswith("IoU.")}}
