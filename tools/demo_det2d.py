"""`sh run.sh demo det2d`: uniform, FOVEA and LZU 2-D detection (mmdet FCOS), fixed and adaptive, CPU.

    python tools/demo_det2d.py --work-dir work_dirs/demo_det2d [--iters 200] [--fresh]
        [--methods uniform fovea lzu fovea_adaptive lzu_adaptive]

1. writes the synthetic nuScenes-format scenes and prepares their infos (as the 3-D demo);
2. turns their camera frames into the Argoverse-HD layout (COCO json, 8 classes);
3. builds the saliency, a KDE of the training boxes (tools/make_saliency.py --coco);
4. trains FCOS (ResNet-18, 64 channels) at the same 0.25x scale with each method (--methods,
   default all five): uniform downsampling; FOVEA and LZU with the fixed saliency; FOVEA and
   LZU with the adaptive one (each frame zoomed on the previous frame's detections);
5. scores both with mmdet's CocoMetric (pycocotools) and prints AP, AP50, AP_small...;
6. draws a frame, its LZU zoom and its uniform downsampling (demo_det2d.png).
Reuses what exists when made with the same options (demo_options.json); --fresh starts over.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import json
import os
import os.path as osp
import sys
import time

from lzu.apis import demos
from lzu.apis.runtime import cfg_option
from lzu.apis.train_score import train_and_evaluate
from lzu.data.synthetic.completion import (
    COMPLETE_FILE,
    check_complete,
    finish,
)
from lzu.infra.atomic_io import atomic_savefig
from lzu.infra.cli import run_main
from lzu.infra.workdir import file_sha256

#: --methods name -> (table label, demo config)
METHODS = {
    "uniform": ("uniform", "configs/det2d/demo/fcos_uniform_demo.py"),
    "fovea": ("FOVEA fixed", "configs/det2d/demo/fovea_fcos_demo.py"),
    "lzu": ("LZU fixed", "configs/det2d/demo/lzu_fcos_demo.py"),
    "fovea_adaptive": ("FOVEA adaptive", "configs/det2d/demo/fovea_adaptive_fcos_demo.py"),
    "lzu_adaptive": ("LZU adaptive", "configs/det2d/demo/lzu_adaptive_fcos_demo.py"),
}
MODELS = tuple(METHODS.values())
KEYS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large")


def parse_args(argv=None):
    p = demos.demo_parser(__doc__.splitlines()[0], "work_dirs/demo_det2d", 100)
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                   help="methods to train and score (default: all five), in table order")
    return p.parse_args(argv)


def saliency_options(method, saliency):
    """cfg-options pointing ``method``'s config at the demo's dataset saliency."""
    if method == "uniform":
        return []
    if method.endswith("_adaptive"):
        return [cfg_option("model.adaptive_saliency.prior_file", saliency)]
    return [cfg_option("model.grid_generator.saliency_file", saliency)]


def prepare_data(py, wd, args):
    nusc = osp.join(wd, "nuscenes")
    data = osp.join(wd, "data")
    saliency = osp.join(wd, "saliency.pkl")
    models = [osp.join(wd, osp.splitext(osp.basename(c))[0]) for _, c in MODELS]
    demos.ensure_synthetic_nuscenes(py, nusc, args, [data, saliency, *models], "1/6")
    demos.ensure_infos(py, wd, nusc)
    ann = osp.join(data, "Argoverse-HD", "annotations")
    # the Argoverse-HD copy is complete when its record names the scenes' own record
    source = {"from": file_sha256(osp.join(nusc, COMPLETE_FILE))}
    if check_complete(data, source) is not None:
        demos.say("2/6 writing the Argoverse-HD layout (COCO json, 8 classes)")
        for path in (data, saliency, *models):
            demos.remove(path)
        from lzu.data.argoverse_hd import write_argoverse_hd_from_nuscenes

        counts = write_argoverse_hd_from_nuscenes(nusc, data)
        finish(data, source)
        for split, (images, boxes) in counts.items():
            demos.say(f"    {split}: {images} images, {boxes} boxes")
    else:
        demos.say(f"1-2/6 reusing {data} (complete)")
    if not osp.isfile(saliency):
        demos.say("3/6 building the saliency from the training boxes")
        demos.run([py, "tools/make_saliency.py", "--coco", osp.join(ann, "train.json"),
                   "--image-size", "1600", "900", "--out", saliency])
    return data, saliency


def figure(data, saliency, path):
    """A validation frame with its boxes, its LZU zoom and its uniform downsampling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from lzu.core.fixed_grid import FixedGrid
    from lzu.core.zoom import zoom

    with open(osp.join(data, "Argoverse-HD", "annotations", "val.json"), encoding="utf-8") as f:
        val = json.load(f)
    counts = {}
    for a in val["annotations"]:
        counts[a["image_id"]] = counts.get(a["image_id"], 0) + 1
    best = max(counts, key=counts.get)
    info = val["images"][best]
    pil = Image.open(osp.join(data, "Argoverse-1.1", "tracking", info["file_name"])).convert("RGB")
    img = torch.from_numpy(np.array(pil)).permute(2, 0, 1).float()[None] / 255.0
    gen = FixedGrid(saliency, output_shape=(225, 400))
    up, _ = gen.grids("cpu")
    zoomed = zoom(img, up)
    uniform = F.interpolate(img, size=(225, 400), mode="bilinear", align_corners=True)
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.4))
    axes[0].imshow(np.array(pil))
    for a in val["annotations"]:
        if a["image_id"] == best:
            x, y, w, h = a["bbox"]
            axes[0].add_patch(plt.Rectangle((x, y), w, h, fill=False, color="yellow", lw=1))
    axes[0].set_title(f"frame 1600x900, {counts[best]} boxes")
    axes[1].imshow(gen.saliency[0, 0].numpy(), cmap="magma")
    axes[1].set_title("saliency (KDE of training boxes)")
    axes[2].imshow(zoomed[0].permute(1, 2, 0).clamp(0, 1).numpy())
    axes[2].set_title("LZU zoom 400x225")
    axes[3].imshow(uniform[0].permute(1, 2, 0).clamp(0, 1).numpy())
    axes[3].set_title("uniform 400x225")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=90)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    wd = demos.start_work_dir(args)
    py = sys.executable
    data, saliency = prepare_data(py, wd, args)
    methods = list(dict.fromkeys(args.methods))
    models = [METHODS[m] for m in methods]
    opts = {METHODS[m][0]: saliency_options(m, saliency) for m in methods}
    results, _, _ = train_and_evaluate(py, wd, data, models, saliency, args.iters,
                                       demos.schedule_options(args.iters, args.seed),
                                       "CocoMetric (pycocotools)", 4, 6, model_opts=opts)
    demos.say("6/6 drawing demo_det2d.png")
    figure(data, saliency, osp.join(wd, "demo_det2d.png"))
    table = demos.markdown_table("model", KEYS, [
        (label, [f"{r.get(k, float('nan')):.4f}" for k in KEYS]) for label, r in results.items()])
    md = ("2-D demo: FCOS (ResNet-18, 64-ch) at 0.25x (400x225) on the synthetic Argoverse-HD-layout "
          f"set, {args.iters} iterations each, CPU; scored by pycocotools (mmdet CocoMetric). "
          "Fixed: one dataset-wide saliency; adaptive: each frame zoomed on the previous frame's "
          "detections (a toy: the evidence benchmark measures properly).\n\n"
          + "\n".join(table) + "\n")
    demos.write_results(wd, {"iters": args.iters, "results": results}, md, ["demo_det2d.png"])
    demos.say(f"finished in {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_main(main, "demo_det2d")
