"""`sh run.sh demo`: uniform baseline vs LZU on a synthetic nuScenes-format set, on the CPU.

    python tools/demo.py --work-dir work_dirs/demo [--iters 240] [--scenes 8 2 --samples 5]

1. writes the synthetic set (nuScenes tables, 6 cameras + LiDAR) under <work-dir>/data;
2. prepares v2 infos with mmdet3d's converter (tools/create_data.py);
3. builds the saliency from the training boxes (tools/make_saliency.py);
4. trains both models (same tiny backbone, same 0.25x scale) with the Runner;
5. evaluates both with NuScenesMetric / nuscenes-devkit DetectionEval;
6. measures latency (tools/benchmark.py) and prints NDS, mAP, TP errors, ms/image;
7. writes demo_results.json / demo_results.md, the accuracy-latency plot and a
   zoom visualisation.
With --compare-borders it also trains LZU with the paper's unzoom border and scores
both LZU checkpoints with both borders (borders.json / borders.md).

Steps whose outputs exist are reused (data, infos, saliency, checkpoints), but only
when they were made with the same options: <work-dir>/demo_options.json records
them, and a rerun with other --seed/--scenes/--samples/--iters stops with a message
instead of mixing results. --fresh deletes the work dir and starts over.
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
from lzu.infra.atomic_io import atomic_open, atomic_write_json, check_not_link
from lzu.infra.cli import run_main
from lzu.infra.records import read_json_record, record_error

MODELS = (("uniform", "configs/demo/fcos3d_demo.py"), ("LZU", "configs/demo/lzu_fcos3d_demo.py"))
KEYS = ("NDS", "mAP", "mATE", "mASE", "mAOE", "mAVE", "mAAE")


def parse_args(argv=None):
    p = demos.demo_parser(__doc__.splitlines()[0], "work_dirs/demo", 240)
    p.add_argument("--bench-iters", type=int, default=10)
    p.add_argument("--compare-borders", action="store_true",
                   help="also train LZU with unzoom_border=paper and score both borders")
    return p.parse_args(argv)


def compare_borders(py, wd, data, saliency, common, lzu_ckpt, iters):
    """LZU trained with each unzoom border, each scored with each border (same seed)."""
    config = MODELS[1][1]
    check_not_link(osp.join(wd, "borders"))
    os.makedirs(osp.join(wd, "borders"), exist_ok=True)
    base = [*common, cfg_option("model.grid_generator.saliency_file", saliency)]
    ckpts = {"exact": lzu_ckpt}
    paper_wd = osp.join(wd, "lzu_fcos3d_demo_paper_border")
    ckpts["paper"] = osp.join(paper_wd, f"iter_{iters}.pth")
    if not osp.isfile(ckpts["paper"]):
        demos.say("training LZU with unzoom_border=paper (same seed)")
        demos.run([py, "tools/train.py", config, "--work-dir", paper_wd, "--data-root", data,
                   "--cfg-options", *base, cfg_option("model.unzoom_border", "paper"), "val_cfg=None",
                   "val_dataloader=None", "val_evaluator=None"],
                  log=osp.join(wd, "train_lzu_fcos3d_demo_paper_border.log"))
    table = {}
    for trained, ckpt in ckpts.items():
        for evaluated in ("exact", "paper"):
            out = osp.join(wd, "borders", f"trained_{trained}_evaluated_{evaluated}.json")
            demos.say(f"scoring LZU trained with border={trained}, evaluated with border={evaluated}")
            demos.run([py, "tools/test.py", config, ckpt, "--work-dir",
                       osp.join(wd, "borders", f"{trained}_{evaluated}"), "--data-root", data,
                       "--out", out, "--cfg-options", *base,
                       cfg_option("model.unzoom_border", evaluated)],
                      log=osp.join(wd, "borders", f"test_{trained}_{evaluated}.log"))
            table[f"{trained}/{evaluated}"] = read_metrics_file(out)
    lines = ["| trained with | evaluated with | NDS | mAP |", "|---|---|---|---|"]
    for key, r in table.items():
        trained, evaluated = key.split("/")
        lines.append(f"| {trained} | {evaluated} | {r['NDS']:.4f} | {r['mAP']:.4f} |")
    md = "LZU demo, unzoom border at training and at evaluation:\n\n" + "\n".join(lines) + "\n"
    atomic_write_json(osp.join(wd, "borders.json"), table)
    with atomic_open(osp.join(wd, "borders.md"), "w", encoding="utf-8") as f:
        f.write(md)
    print("\n" + md)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    wd = demos.start_work_dir(args)
    data = osp.join(wd, "data")
    py = sys.executable

    saliency = osp.join(wd, "saliency.pkl")
    models = [osp.join(wd, osp.splitext(osp.basename(c))[0]) for _, c in MODELS]
    demos.ensure_synthetic_nuscenes(py, data, args, [saliency, *models], "1/7")
    demos.say("2/7 infos")
    demos.ensure_infos(py, wd, data)
    if not osp.isfile(saliency):
        demos.say("3/7 building the saliency from the training boxes")
        demos.run([py, "tools/make_saliency.py", "--infos", osp.join(data, "nuscenes_infos_train.pkl"),
                   "--out", saliency])
    else:
        demos.say(f"3/7 reusing {saliency}")

    common = demos.schedule_options(args.iters)
    results, checkpoints, metrics_files = train_and_evaluate(
        py, wd, data, MODELS, saliency, args.iters, common, "NuScenesMetric / DetectionEval", 4, 7)

    demos.say("6/7 measuring latency (batch 1, forward only)")
    bench_dir = osp.join(wd, "benchmark")
    demos.run([py, "tools/benchmark.py", *[c for _, c in MODELS], "--checkpoints", *checkpoints,
               "--metrics", *metrics_files, "--data-root", data, "--iters", str(args.bench_iters),
               "--warmup", "3", "--out-dir", bench_dir, "--saliency", saliency],
              log=osp.join(wd, "benchmark.log"))
    bench = read_json_record(osp.join(bench_dir, "benchmark.json"), "benchmark report",
                             "delete it and rerun", {"rows": list})
    if len(bench["rows"]) != len(MODELS) or not all(
            isinstance(r, dict) and isinstance(r.get("latency_ms"), int | float) for r in bench["rows"]):
        raise record_error(osp.join(bench_dir, "benchmark.json"), "benchmark report",
                           f"has not {len(MODELS)} rows with a 'latency_ms'", "delete it and rerun")
    for (label, _), row in zip(MODELS, bench["rows"], strict=True):
        results[label]["ms_per_image"] = row["latency_ms"]

    demos.say("7/7 drawing the zoom visualisation")
    vis = osp.join(wd, "zoom_visualization.png")
    val_frames = args.scenes[1] * args.samples
    demos.run([py, "tools/visualize_zoom.py", MODELS[1][1], "--data-root", data, "--out", vis,
               "--index", str(min(1, val_frames - 1)), "--features", "--checkpoint", checkpoints[1],
               "--cfg-options", cfg_option("model.grid_generator.saliency_file", saliency)])

    table = demos.markdown_table("model", [*KEYS, "ms/image"], [
        (label, [f"{r.get(k, float('nan')):.4f}" for k in KEYS] + [f"{r['ms_per_image']:.1f}"])
        for label, r in results.items()])
    md = ("Demo: FCOS3D (ResNet-18, 64-ch) at 0.25x on the synthetic nuScenes-format set, "
          f"{args.iters} iterations each, CPU; scored by nuscenes-devkit DetectionEval.\n\n"
          + "\n".join(table) + "\n")
    demos.write_results(wd, {"iters": args.iters, "results": results, "benchmark": bench["lzu_overhead"]},
                        md, [f"{bench_dir}/accuracy_latency.png", vis])
    if args.compare_borders:
        compare_borders(py, wd, data, saliency, common, checkpoints[1], args.iters)
    demos.say(f"finished in {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_main(main, "demo")
