"""Evidence task "det2d": 2-D detection (mmdet FCOS), uniform vs LZU vs FOVEA, fixed and adaptive, COCO AP.

Data: the street-scene Argoverse-HD-layout set (lzu/data/synthetic/street_argoverse.py),
512x288 frames, objects on a ground plane with size ~ 1 / depth, fixed (seed 0) for every
run. Saliency: a KDE of the training boxes by tools/make_saliency.py --coco.
Cells: output 0.25x (128x72) and 0.5x (256x144) of the frame, uniform / LZU / FOVEA with the
fixed saliency and LZU / FOVEA adaptive (each frame zoomed on the previous frame's boxes mixed
with that saliency; the frames come in sequences of 20 with ``sid`` / ``fid``, test frames in
sequence order; each frame is an independent draw of the street scene, so the previous frame
says where objects tend to be, not where this frame's are); and "learn to upsample": the frame
first shrunk to 0.125x (a stored 64x36 copy of
the same scenes), then brought to a 0.25x output (128x72) by uniform upsampling or by
LZU's zoom. The task-module contract is in ``lzu.apis.evidence``.
"""

import json
import os
import os.path as osp

from lzu.apis.evidence.common import (
    ROOT,
    run_saliency_tool,
    set_pipeline_resize,
    size_stats,
    train_and_test,
)
from lzu.data.argoverse_hd import ARGOVERSE_HD_CLASSES
from lzu.data.synthetic.completion import check_complete
from lzu.data.synthetic.street_argoverse import write_street_argoverse_hd
from lzu.infra.workdir import file_sha256

NAME = "det2d"
METRICS = ("AP", "AP_small", "AP50", "AP_medium", "AP_large", "AP_car", "AP_person")
SMALL_METRICS = ("AP_small",)
#: the one comparison declared before running (cell, method, metric): reported with its
#: plain 95 % interval; every other one is Holm-corrected (tools/evidence.py)
PRIMARY = ("det2d@0.25", "lzu", "AP")
METRIC_UNIT = "percent"  # every metric, 0-100
FRAME = (288, 512)  # (H, W) at full resolution
CONFIGS = {"uniform": "configs/evidence/det2d_uniform.py", "lzu": "configs/evidence/det2d_lzu.py",
           "fovea": "configs/evidence/det2d_fovea.py",
           "lzu_adaptive": "configs/evidence/det2d_lzu_adaptive.py",
           "fovea_adaptive": "configs/evidence/det2d_fovea_adaptive.py"}
#: the methods of the 0.25x and 0.5x cells (the upsample cell: uniform and LZU)
METHODS = ("uniform", "lzu", "fovea", "lzu_adaptive", "fovea_adaptive")
_COCO_KEYS = {"AP": "coco/bbox_mAP", "AP50": "coco/bbox_mAP_50", "AP_small": "coco/bbox_mAP_s",
              "AP_medium": "coco/bbox_mAP_m", "AP_large": "coco/bbox_mAP_l",
              "AP_car": "coco/car_precision", "AP_person": "coco/person_precision"}
UPSAMPLE_FROM = 0.125  # the low-resolution input of the "learn to upsample" cell
UPSAMPLE_TO = 0.25  # ... and its output


def _frames(quick):
    return (48, 16) if quick else (240, 60)


def _iters(quick):
    return 30 if quick else 450


def _sets(work_dir, quick):
    """``{name: (root, options)}`` of the full-resolution set and its 0.25x copy."""
    train, val = _frames(quick)
    return {name: (osp.join(work_dir, "data" if factor == 1 else "data_lowres"),
                   dict(train_frames=train, val_frames=val, size=list(FRAME), seed=0,
                        downsample=float(factor), min_visible=0.3))
            for name, factor in (("full", 1), ("lowres", 1 / UPSAMPLE_FROM))}


def _box_sizes(ann_file):
    with open(ann_file, encoding="utf-8") as f:
        anns = json.load(f)["annotations"]
    return [a["bbox"][2] for a in anns], [a["bbox"][3] for a in anns]


def zoom_magnification(saliency, boxes, frame, output_hw):
    """How much LZU's zoom (``FixedGrid`` of ``configs/evidence/det2d_lzu.py``) enlarges each box
    compared with uniform resizing to ``output_hw``: median area ratio, for all boxes and for
    COCO-small ones. ``boxes`` are ``(x, y, w, h)`` in a ``frame = (H, W)`` image."""
    import numpy as np
    from mmengine.config import Config

    from lzu.core.fixed_grid import FixedGrid

    gen_cfg = Config.fromfile(osp.join(ROOT, CONFIGS["lzu"])).model.grid_generator
    kwargs = {k: v for k, v in gen_cfg.items() if k not in ("type", "saliency_file", "output_shape")}
    up, _ = FixedGrid(saliency, output_shape=tuple(output_hw), **kwargs).grids("cpu")
    up = up[0].numpy()  # (h, w, 2): normalised source x, y of each output pixel
    h, w = output_hw
    # source coordinate (px) of each output row / column, and its local magnification
    src_y = (up[:, w // 2, 1] + 1) / 2 * frame[0]
    src_x = (up[h // 2, :, 0] + 1) / 2 * frame[1]
    mag_y = (frame[0] / h) / np.gradient(src_y)
    mag_x = (frame[1] / w) / np.gradient(src_x)
    b = np.asarray(boxes, dtype=np.float64)
    cx, cy = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    area = np.interp(cx, src_x, mag_x) * np.interp(cy, src_y, mag_y)
    small = b[:, 2] * b[:, 3] < 32 ** 2
    return {"median_area_ratio_all": round(float(np.median(area)), 3),
            "median_area_ratio_coco_small": round(float(np.median(area[small])), 3)
            if small.any() else None,
            "peak_linear_ratio_xy": [round(float(mag_x.max()), 3), round(float(mag_y.max()), 3)]}


def prepare(work_dir, quick, log):
    out = {"data": {}, "saliency_sha256": {}}
    for name, (root, options) in _sets(work_dir, quick).items():
        saliency = osp.join(work_dir, f"saliency_{name}.pkl")
        if check_complete(root, options) is not None:
            log(f"  writing the {name} street set (Argoverse-HD layout) under {root}")
            counts = write_street_argoverse_hd(root, **options)
            log(f"    train {counts['train']}, val {counts['val']} (images, boxes)")
            if osp.isfile(saliency):
                os.unlink(saliency)
        else:
            log(f"  reusing the {name} street set under {root} (complete, same options)")
        train_json = osp.join(root, "Argoverse-HD", "annotations", "train.json")
        if not osp.isfile(saliency):
            log(f"  building saliency_{name}.pkl: KDE of the training boxes (make_saliency --coco)")
            run_saliency_tool(["--coco", train_json, "--out", saliency], log)
        out["saliency_sha256"][name] = file_sha256(saliency)
        if name == "full":
            w, h = _box_sizes(train_json)
            stats = {"frame_WxH": [FRAME[1], FRAME[0]], "full": size_stats(w, h)}
            for s in (UPSAMPLE_FROM, 0.25, 0.5):
                stats[f"x{s:g}"] = size_stats([v * s for v in w], [v * s for v in h])
            with open(train_json, encoding="utf-8") as f:
                boxes = [a["bbox"] for a in json.load(f)["annotations"]]
            stats["lzu_zoom_vs_uniform"] = {
                f"x{s:g}": zoom_magnification(saliency, boxes, FRAME,
                                              (round(FRAME[0] * s), round(FRAME[1] * s)))
                for s in (0.25, 0.5)}
            stats["options"] = options
            out["data"] = stats
    return out


def cells(quick):
    scales = (0.25,) if quick else (0.25, 0.5)
    out = [{"cell": f"det2d@{s:.2f}", "method": m, "scale": s, "input_scale": 1.0}
           for s in scales for m in METHODS]
    out += [{"cell": f"det2d-upsample@{UPSAMPLE_FROM:g}->{UPSAMPLE_TO:g}", "method": m,
             "scale": UPSAMPLE_TO, "input_scale": UPSAMPLE_FROM} for m in ("uniform", "lzu")]
    return out


def run(work_dir, cell, seed, quick, log):
    lowres = cell["input_scale"] != 1.0
    root, _ = _sets(work_dir, quick)["lowres" if lowres else "full"]
    saliency = osp.join(work_dir, "saliency_lowres.pkl" if lowres else "saliency_full.pkl")
    out_h, out_w = (round(FRAME[0] * cell["scale"]), round(FRAME[1] * cell["scale"]))

    def edit(cfg):
        data_root = root + "/"
        for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
            cfg[key]["dataset"]["data_root"] = data_root
        ann = osp.join(root, "Argoverse-HD", "annotations", "val.json")
        cfg.val_evaluator["ann_file"] = ann
        cfg.test_evaluator["ann_file"] = ann
        cfg.val_evaluator["classwise"] = cfg.test_evaluator["classwise"] = True
        if cell["method"] == "uniform":
            if set_pipeline_resize(cfg, (out_w, out_h)) != 3:
                raise RuntimeError(f"{CONFIGS['uniform']}: expected one Resize per pipeline")
        elif cell["method"].endswith("_adaptive"):
            cfg.model["grid_generator"]["output_shape"] = (out_h, out_w)
            cfg.model["adaptive_saliency"]["prior_file"] = saliency
        else:
            cfg.model["grid_generator"]["output_shape"] = (out_h, out_w)
            cfg.model["grid_generator"]["saliency_file"] = saliency

    name = f"{cell['cell']}_{cell['method']}_s{seed}".replace("->", "to")
    raw, sha, seconds = train_and_test(CONFIGS[cell["method"]], edit, work_dir, seed,
                                       _iters(quick), log, name)
    # mmdet's CocoMetric returns nothing when the model kept no box at all (score_thr): that
    # model's AP is 0
    empty = not any(k.startswith("coco/") for k in raw)
    metrics = {}
    for key, coco in _COCO_KEYS.items():
        value = 0.0 if empty else raw.get(coco)
        # pycocotools says -1 when a category / area range has no ground truth
        metrics[key] = None if value is None or value < 0 else round(100 * value, 3)
    return {"metrics": metrics, "config_sha256": sha, "iters": _iters(quick), "seconds": seconds,
            "no_detections": empty,
            "classes": list(ARGOVERSE_HD_CLASSES), "output_HxW": [out_h, out_w]}
