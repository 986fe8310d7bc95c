"""Evidence benchmark, monocular 3-D task: FCOS3D, uniform vs LZU, nuScenes NDS / mAP.

The task module of ``tools/evidence.py`` (contract: ``lzu.apis.evidence``). One process runs every
cell in-process with mmengine's Runner:

* ``prepare`` writes the synthetic nuScenes-format set (tools/make_synthetic_nuscenes.py) at
  800 x 450 with more objects per frame spread evenly over the ground (``--far-bias 1``: density
  proportional to distance, so more of them far away near the horizon; sizes follow the
  camera's perspective law because the renderer projects the 3-D boxes), the mmdet3d infos
  (tools/create_data.py), and the saliency: the KDE of the training 2-D boxes
  (tools/make_saliency.py). It returns the object-size statistics (projected 2-D box heights
  in px at full resolution and at each scale, distances).
* ``run`` trains FCOS3D (configs/evidence/det3d_{uniform,lzu}.py: ResNet-18 at width 16, 32-ch
  FPN and head) from scratch for a fixed number of iterations and scores the val split with
  ``DeviceAgnosticNuScenesMetric`` (mmdet3d's NuScenesMetric, nuscenes-devkit DetectionEval).

Metrics: NDS (primary), mAP, the devkit's per-class AP (mean over its four centre-distance
thresholds) of car and of the small classes (pedestrian, traffic cone), and the AP of the far
objects (centre >= 25 m from the ego) of car and pedestrian: the devkit's own DetectionEval on
the run's result file with ground truth and predictions restricted to that range
(``far_aps``). ``SMALL_METRICS`` = the far APs and the small classes' APs.

Design (chosen so that the uniform baseline learns in about a minute per run on 2 cores):
800 x 450 images, 8 train scenes x 8 key frames (6 cameras), 2 val scenes x 8, 12-20 objects
alive per frame, all 10 classes; scales 0.25x (200 x 112) and 0.5x (400 x 225), LZU zooming the
800 x 450 frame to the same size; ResNet-18 (base width 16, no DCN), 3-level 32-channel FPN and
FCOS3D head, AdamW 2e-3 with a 20-iteration warm-up, step x0.1 at 80 %, batch 8, 200
iterations (quick: 4+1 scenes x 4 frames, 0.25x only, 40 iterations). The seed sets the
initialisation and the data order (mmengine's ``randomness.seed``); the data are fixed.
Deterministic for a given seed and thread count (oneDNN deterministic mode, no workers).
"""

import json
import math
import os
import os.path as osp
import time

import numpy as np

from lzu.apis.evidence.common import ROOT
from lzu.apis.train_score import config_sha256, train_and_test
from lzu.data.infos import load_infos
from lzu.data.synthetic.completion import check_complete
from lzu.infra.atomic_io import atomic_write_json
from lzu.infra.cpu import deterministic_cpu_kernels
from lzu.infra.errors import UserInputError
from lzu.infra.records import RecordError, read_json_record
from lzu.infra.workdir import file_sha256

NAME = "det3d"
CLASS_NAMES = ("car", "truck", "trailer", "bus", "construction_vehicle", "bicycle", "motorcycle",
               "pedestrian", "traffic_cone", "barrier")  # mmdet3d's label order
SMALL_CLASSES = ("pedestrian", "traffic_cone")
FAR_M = 25.0  # "far": centre at least this far from the ego (m)
FAR_CLASSES = ("car", "pedestrian")
METRICS = ("NDS", "mAP", "AP_car", *(f"AP_{c}" for c in SMALL_CLASSES),
           *(f"AP_{c}_far" for c in FAR_CLASSES))
SMALL_METRICS = (*(f"AP_{c}_far" for c in FAR_CLASSES), *(f"AP_{c}" for c in SMALL_CLASSES))
#: the one comparison declared before running (cell, method, metric): reported with its
#: plain 95 % interval; every other one is Holm-corrected (tools/evidence.py)
PRIMARY = ("0.25x", "lzu", "NDS")

FULL_SIZE = (800, 450)  # (W, H) of the synthetic images: this task's full resolution
SCALES = (0.25, 0.5)
CONFIGS = {"uniform": "configs/evidence/det3d_uniform.py", "lzu": "configs/evidence/det3d_lzu.py"}

#: the synthetic set: (default, quick)
DATA = {
    False: {"train_scenes": 8, "val_scenes": 2, "samples_per_scene": 8, "seed": 0,
            "image_size": list(FULL_SIZE), "objects_per_sample": [12, 20], "far_bias": 1.0},
    True: {"train_scenes": 4, "val_scenes": 1, "samples_per_scene": 4, "seed": 0,
           "image_size": list(FULL_SIZE), "objects_per_sample": [12, 20], "far_bias": 1.0},
}
#: training schedule: (default, quick)
SCHEDULE = {False: {"iters": 200, "lr": 0.002, "warmup": 20},
            True: {"iters": 40, "lr": 0.002, "warmup": 10}}


def _paths(work_dir):
    return {"data": osp.join(work_dir, "data"), "saliency": osp.join(work_dir, "saliency.pkl"),
            "prepared": osp.join(work_dir, "prepared.json")}


def _output_size(scale):
    """(W, H) of a scale's model input: the full frame times ``scale``, rounded down."""
    return int(FULL_SIZE[0] * scale), int(FULL_SIZE[1] * scale)


def cells(quick):
    """One cell per scale, both methods at the same output size."""
    scales = SCALES[:1] if quick else SCALES
    out = []
    for scale in scales:
        w, h = _output_size(scale)
        for method in ("uniform", "lzu"):
            out.append({"cell": f"{scale}x", "method": method, "scale": scale,
                        "output_size": [w, h]})
    return out


# ----------------------------------------------------------------------------- prepare


def _tool(name, argv):
    """Run the command of ``tools/<name>.py`` (``lzu.apis.data_commands``) in this process;
    a failure is one error."""
    from lzu.apis import data_commands

    try:
        getattr(data_commands, f"{name}_main")(argv)
    except SystemExit as err:
        if err.code not in (None, 0):
            raise UserInputError(f"{name} failed: {err.code}") from None


def _size_statistics(infos_path):
    """Projected 2-D box heights (px) and depths (m) of the camera instances of an info file."""
    heights, depths, names = [], [], []
    for info in load_infos(infos_path):
        for insts in (info.get("cam_instances") or {}).values():
            for inst in insts:
                x1, y1, x2, y2 = inst["bbox"]
                y1, y2 = max(y1, 0.0), min(y2, FULL_SIZE[1])
                x1, x2 = max(x1, 0.0), min(x2, FULL_SIZE[0])
                if y2 <= y1 or x2 <= x1:
                    continue  # outside this 800 x 450 frame (the converter clips to 1600 x 900)
                heights.append(y2 - y1)
                depths.append(float(inst.get("depth", math.nan)))
                names.append(inst["bbox_label"])
    heights, depths, names = np.array(heights), np.array(depths), np.array(names)

    def summary(h):
        q = np.percentile(h, [10, 25, 50, 75, 90]).round(1).tolist() if len(h) else []
        return {"n": int(len(h)), "p10_p25_p50_p75_p90": q,
                "frac_below_8px": round(float(np.mean(h < 8)), 3) if len(h) else None,
                "frac_below_16px": round(float(np.mean(h < 16)), 3) if len(h) else None,
                "frac_below_32px": round(float(np.mean(h < 32)), 3) if len(h) else None}

    stats = {"box_height_px": {"full_800x450": summary(heights)}}
    for scale in SCALES:
        w, h = _output_size(scale)
        stats["box_height_px"][f"{scale}x_{w}x{h}"] = summary(heights * scale)
    stats["depth_m"] = {"p10_p25_p50_p75_p90": np.nanpercentile(depths, [10, 25, 50, 75, 90])
                        .round(1).tolist() if len(depths) else []}
    per_class = {}
    for label in sorted(set(names.tolist())):
        sel = names == label
        per_class[CLASS_NAMES[label]] = {
            "n": int(sel.sum()), "median_height_px": round(float(np.median(heights[sel])), 1),
            "median_depth_m": round(float(np.nanmedian(depths[sel])), 1)}
    stats["per_class_full_res"] = per_class
    return stats


def prepare(work_dir, quick, log):
    """Synthetic set, infos and saliency under ``work_dir`` (reused when complete for the
    same options); returns ``{"saliency_sha256", "data": {...}}``."""
    os.makedirs(work_dir, exist_ok=True)
    p = _paths(work_dir)
    options = DATA[bool(quick)]
    infos = [osp.join(p["data"], f"nuscenes_infos_{s}.pkl") for s in ("train", "val")]
    if check_complete(p["data"], options) is None and all(map(osp.isfile, infos)) \
            and osp.isfile(p["saliency"]) and osp.isfile(p["prepared"]):
        try:
            prepared = read_json_record(p["prepared"], "prepared-data record",
                                        "the data and saliency are prepared again",
                                        {"saliency_sha256": str, "data": dict})
        except RecordError as err:
            log(f"det3d: {err}")
            prepared = {}
        if prepared.get("saliency_sha256") == file_sha256(p["saliency"]):
            log(f"det3d: reusing {p['data']} and {p['saliency']}")
            return prepared
    for path in (p["saliency"], p["prepared"]):
        if osp.isfile(path):
            os.unlink(path)
    log(f"det3d: writing the synthetic set under {p['data']}")
    _tool("make_synthetic_nuscenes", [
        "--root", p["data"], "--train-scenes", str(options["train_scenes"]),
        "--val-scenes", str(options["val_scenes"]),
        "--samples-per-scene", str(options["samples_per_scene"]), "--seed", str(options["seed"]),
        "--image-size", *map(str, options["image_size"]),
        "--objects-per-sample", *map(str, options["objects_per_sample"]),
        "--far-bias", str(options["far_bias"])])
    if check_complete(p["data"], options) is not None:
        raise UserInputError(f"the generator ran but {p['data']} is not complete")
    log("det3d: infos with mmdet3d's converter")
    _tool("create_data", ["--root-path", p["data"], "--version", "v1.0-mini", "--max-sweeps", "0"])
    log("det3d: saliency (KDE of the training boxes) with tools/make_saliency.py")
    _tool("make_saliency", ["--infos", infos[0], "--out", p["saliency"],
                            "--image-size", *map(str, FULL_SIZE)])
    prepared = {"saliency_sha256": file_sha256(p["saliency"]),
                "data": {"generator_options": options, "full_size": list(FULL_SIZE),
                         "train": _size_statistics(infos[0]), "val": _size_statistics(infos[1])}}
    atomic_write_json(p["prepared"], prepared)
    return prepared


# ----------------------------------------------------------------------------- run


def _metric_values(metrics):
    """The METRICS from the evaluator's dict (keys ``.../pred_instances_3d_NuScenes/<name>``)."""
    found = {}
    for key, value in metrics.items():
        found[key.rsplit("/", 1)[-1]] = float(value)
    out = {"NDS": found["NDS"], "mAP": found["mAP"]}
    for cls in ("car", *SMALL_CLASSES):
        aps = [v for k, v in found.items() if k.startswith(f"{cls}_AP_dist_")]
        if len(aps) != 4:
            raise UserInputError(f"the nuScenes metric returned no per-distance AP of '{cls}': "
                                 f"{sorted(found)}")
        out[f"AP_{cls}"] = float(np.mean(aps))
    return out


def far_aps(result_path, data_root, min_dist=FAR_M):
    """nuscenes-devkit APs of the objects at least ``min_dist`` m from the ego.

    The devkit's own ``DetectionEval`` on the run's result file, with its ground truth and
    predictions (both already filtered by the devkit's class ranges and centre distances
    added by it) restricted to ``ego_dist >= min_dist`` before ``evaluate``: the same
    matching and AP as the headline figures, on the far objects only. Returns
    ``{class: AP averaged over the four distance thresholds}`` for ``FAR_CLASSES``.
    """
    from nuscenes import NuScenes
    from nuscenes.eval.common.data_classes import EvalBoxes
    from nuscenes.eval.detection.config import config_factory
    from nuscenes.eval.detection.evaluate import DetectionEval

    def far(boxes):
        out = EvalBoxes()
        for token in boxes.sample_tokens:
            out.add_boxes(token, [b for b in boxes[token] if b.ego_dist >= min_dist])
        return out

    nusc = NuScenes(version="v1.0-mini", dataroot=data_root, verbose=False)
    out_dir = osp.join(osp.dirname(result_path), f"far_{min_dist:g}m")
    os.makedirs(out_dir, exist_ok=True)
    evaluation = DetectionEval(nusc, config_factory("detection_cvpr_2019"), result_path,
                               "mini_val", out_dir, verbose=False)
    evaluation.gt_boxes, evaluation.pred_boxes = far(evaluation.gt_boxes), far(evaluation.pred_boxes)
    metrics, _ = evaluation.evaluate()
    return {cls: float(np.mean([metrics.get_label_ap(cls, d) for d in metrics.cfg.dist_ths]))
            for cls in FAR_CLASSES}


def build_config(work_dir, cell, seed, quick):
    """The merged mmengine Config of one run (not yet given its work dir)."""
    from mmengine.config import Config

    p = _paths(work_dir)
    sched = SCHEDULE[bool(quick)]
    iters = int(cell.get("iters", sched["iters"]))
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[cell["method"]]))
    data_root = osp.abspath(p["data"]) + "/"
    for loader in ("train_dataloader", "test_dataloader"):
        cfg[loader].dataset.data_root = data_root
    cfg.test_evaluator.data_root = data_root
    cfg.test_evaluator.ann_file = data_root + "nuscenes_infos_val.pkl"
    w, h = cell["output_size"]
    if cell["method"] == "uniform":
        for loader in ("train_dataloader", "test_dataloader"):
            for step in cfg[loader].dataset.pipeline:
                if step["type"] == "Resize3D":
                    step["scale"] = (w, h)
    else:
        cfg.model.grid_generator.saliency_file = osp.abspath(p["saliency"])
        cfg.model.grid_generator.output_shape = (h, w)
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1
    cfg.optim_wrapper.optimizer.lr = sched["lr"]
    cfg.param_scheduler = [
        dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=sched["warmup"]),
        dict(type="MultiStepLR", by_epoch=False, begin=0, end=iters,
             milestones=[int(iters * 0.8)], gamma=0.1)]
    cfg.default_hooks.checkpoint.interval = iters
    cfg.randomness = dict(seed=int(seed))
    return cfg, iters


def _has_boxes(result_path):
    results = read_json_record(result_path, "nuScenes results file", "rerun the task",
                               {"results": dict})["results"]
    return any(results.values())


def run(work_dir, cell, seed, quick, log):
    """Train one (cell, method, seed) from scratch and score it; see the module doc."""
    import torch

    start = time.perf_counter()
    cfg, iters = build_config(work_dir, cell, seed, quick)
    digest = config_sha256(cfg)
    name = f"{cell['cell']}_{cell['method']}_seed{seed}"
    cfg.work_dir = osp.join(work_dir, "runs", name)
    cfg.test_evaluator.jsonfile_prefix = osp.join(cfg.work_dir, "results")
    deterministic_cpu_kernels()
    log(f"det3d: training {name} for {iters} iterations at {cell['output_size']}")
    raw, _ = train_and_test(cfg, name, quiet=False)
    metrics = _metric_values(raw)
    result_path = osp.join(cfg.work_dir, "results", "pred_instances_3d", "results_nusc.json")
    if _has_boxes(result_path):
        far = far_aps(result_path, cfg.test_evaluator.data_root)
    else:  # nothing predicted: the devkit refuses the file, nuScenes' value is AP 0
        far = dict.fromkeys(FAR_CLASSES, 0.0)
    metrics.update({f"AP_{c}_far": v for c, v in far.items()})
    for key, value in metrics.items():
        if not math.isfinite(value):
            raise UserInputError(f"det3d: {name} gave a non-finite {key}: {value}")
    seconds = time.perf_counter() - start
    log(f"det3d: {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        + f" ({seconds:.0f} s, {torch.get_num_threads()} threads)")
    return {"metrics": metrics, "config_sha256": digest, "iters": iters, "seconds": seconds}


def main(argv=None):
    """Run the task alone: ``python -m lzu.apis.evidence.det3d WORK_DIR [--quick] [--seeds 0 1 2]``."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("work_dir")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--cells", nargs="+", help="cell ids to run (default: all)")
    ap.add_argument("--methods", nargs="+", help="methods to run (default: all)")
    ap.add_argument("--iters", type=int, help="override the schedule's iterations (experiments)")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, flush=True)

    prepared = prepare(args.work_dir, args.quick, log)
    log(json.dumps(prepared["data"]["train"]["box_height_px"]))
    results = []
    for cell in cells(args.quick):
        if args.cells and cell["cell"] not in args.cells:
            continue
        if args.methods and cell["method"] not in args.methods:
            continue
        if args.iters:
            cell = {**cell, "iters": args.iters}
        for seed in args.seeds:
            results.append({**cell, "seed": seed,
                            **run(args.work_dir, cell, seed, args.quick, log)})
    atomic_write_json(osp.join(args.work_dir, "det3d_results.json"),
                      {"prepare": prepared, "runs": results})


if __name__ == "__main__":
    from lzu.infra.bootstrap import bootstrap
    from lzu.infra.cli import run_main

    bootstrap()
    run_main(main, "det3d")
