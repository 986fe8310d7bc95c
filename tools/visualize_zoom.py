"""Show what LZU's zoom does to an image: one PNG, five panels (six with --features).

    python tools/visualize_zoom.py configs/lzu_fcos3d_0.75.py --image street.jpg --out zoom.png
    python tools/visualize_zoom.py configs/lzu_fcos3d_0.75.py --data-root data/nuscenes --index 3

Panels: the uniformly downsampled image; the zoomed image; the zoomed image
unzoomed back; the saliency heat-map over the image; the warp grid drawn over
the original image. With --features, also one FPN level of the config's model
(random init unless --checkpoint) before and after unzoom.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import argparse
import os
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from lzu.apis.runtime import DictAction, OptionError, build_model, load_config
from lzu.core.fixed_grid import FixedGrid
from lzu.core.unzoom import invert_grid, unzoom
from lzu.core.zoom import zoom
from lzu.infra.atomic_io import atomic_savefig
from lzu.infra.cli import run_main
from lzu.infra.errors import UserInputError
from lzu.infra.output_paths import check_output_file

#: float32 copies of the image the panels hold at once (input, zoomed, unzoomed, uniform,
#: grids), a generous bound of what one figure needs per pixel of the largest image
COPIES = 16


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="an LZU config (its grid_generator is used)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--image", help="any image file")
    src.add_argument("--data-root", help="take a CAM_FRONT image from <root>/nuscenes_infos_val.pkl")
    p.add_argument("--index", type=int, default=0, help="frame index in the val infos")
    p.add_argument("--camera", default="CAM_FRONT")
    p.add_argument("--out", default="work_dirs/zoom_visualization.png")
    p.add_argument("--features", action="store_true", help="add an FPN level before/after unzoom")
    p.add_argument("--checkpoint", help="weights for --features")
    p.add_argument("--level", type=int, default=0, help="FPN level for --features")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, help="key=value overrides")
    return p.parse_args(argv)


def image_path(args):
    """The image to show: ``--image``, or frame ``--index`` of the val infos' ``--camera``."""
    if args.image:
        return args.image
    from lzu.data.infos import load_infos

    ann = osp.join(args.data_root, "nuscenes_infos_val.pkl")
    infos = load_infos(ann)
    if not 0 <= args.index < len(infos):
        raise OptionError(f"--index {args.index}: '{ann}' holds {len(infos)} frames "
                          f"(0-{len(infos) - 1})" if infos else f"'{ann}' holds no frame")
    cameras = infos[args.index].get("images", {})
    if args.camera not in cameras or "img_path" not in cameras[args.camera]:
        raise OptionError(f"--camera {args.camera}: frame {args.index} of '{ann}' has the "
                          f"cameras {', '.join(c for c in cameras if 'img_path' in cameras[c])}")
    return osp.join(args.data_root, "samples", args.camera, cameras[args.camera]["img_path"])


def read_image(path):
    """An RGB PIL image, or one ``UserInputError`` naming the file."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise UserInputError(f"image '{path}' not found") from None
    except (OSError, ValueError) as err:
        raise UserInputError(f"image '{path}' cannot be read: {err}") from None


def check_memory(shapes, what):
    """Refuse sizes whose float32 panels would not fit in half this machine's memory."""
    pixels = max(h * w for h, w in shapes)
    need = pixels * 3 * 4 * COPIES
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if need > have / 2:
        raise OptionError(
            f"{what}: drawing it needs about {need / 2**30:.0f} GiB, more than half of this "
            f"machine's {have / 2**30:.0f} GiB; choose a smaller output_shape or image")


def check_level(level, n_levels):
    if not 0 <= level < n_levels:
        raise OptionError(f"--level {level}: the model has {n_levels} feature levels "
                          f"(0-{n_levels - 1})")


def to_image(t):
    """(3, H, W) float in [0, 1] -> (H, W, 3) numpy."""
    return t.clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def feature_panels(cfg, args, img_uint8):
    """Channel-mean |features| of one level (FPN, or backbone stage without a neck), zoomed
    frame and unzoomed. Works for mmdet3d, mmdet and mmseg models."""
    model = build_model(cfg, args.checkpoint).eval()
    if type(model.data_preprocessor).__name__ == "Det3DDataPreprocessor":
        from mmdet3d.structures import Det3DDataSample

        data = {"inputs": {"img": [img_uint8]}, "data_samples": [Det3DDataSample(metainfo={})]}
    else:  # mmdet / mmseg: a list of (3, H, W) images
        data = {"inputs": [img_uint8], "data_samples": None}
    with torch.no_grad():
        imgs = model.data_preprocessor(data, False)["inputs"]
        imgs = imgs["imgs"] if isinstance(imgs, dict) else imgs
        zoomed, state = model.zoom_inputs(imgs)
        feats = model.backbone(zoomed)
        if model.with_neck:
            feats = model.neck(feats)
        restored = model.unzoom_features(feats, state)
    level = args.level
    check_level(level, len(feats))
    return feats[level][0].abs().mean(0).numpy(), restored[level][0].abs().mean(0).numpy()


def main(argv=None):
    args = parse_args(argv)
    check_output_file(args.out, "--out")
    cfg = load_config(args.config, args.cfg_options)
    gcfg = dict(cfg.model.get("grid_generator") or {})
    if gcfg.pop("type", None) != "FixedGrid":
        raise SystemExit(f"visualize_zoom: '{args.config}' has no FixedGrid grid_generator")
    grid_gen = FixedGrid(**gcfg)
    if args.features and args.level < 0:
        check_level(args.level, 1)
    path = image_path(args)
    pil = read_image(path)
    check_memory([grid_gen.output_shape, pil.size[::-1]],
                 f"output_shape {grid_gen.output_shape} for image '{path}' ({pil.size[0]}x{pil.size[1]})")
    img = torch.from_numpy(np.asarray(pil)).permute(2, 0, 1).float()[None] / 255.0
    h, w = grid_gen.output_shape
    up, coarse = grid_gen(img)
    zoomed = zoom(img, up)
    restored = unzoom(zoomed, invert_grid(coarse, (h, w), separable=grid_gen.separable))
    ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, w)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    uniform = F.grid_sample(img, torch.stack((gx, gy), -1)[None], align_corners=True)
    s = w / img.shape[-1]
    settings = (f"grid {grid_gen.grid_shape}, fwhm {grid_gen.attraction_fwhm:g}, "
                f"{'separable' if grid_gen.separable else 'non-separable'}, "
                f"anti_crop={grid_gen.anti_crop}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = 7 if args.features else 5
    fig, axes = plt.subplots((n + 1) // 2, 2, figsize=(14, 4.2 * ((n + 1) // 2)))
    axes = axes.ravel()
    axes[0].imshow(to_image(uniform[0]))
    axes[0].set_title(f"uniform downsampling {s:g}x ({w}x{h})")
    axes[1].imshow(to_image(zoomed[0]))
    axes[1].set_title(f"LZU zoom {s:g}x ({w}x{h}) — {settings}", fontsize=9)
    axes[2].imshow(to_image(restored[0]))
    axes[2].set_title("zoomed image unzoomed back (what the head's frame looks like)")
    full = to_image(img[0])
    big_h, big_w = full.shape[:2]
    axes[3].imshow(full)
    axes[3].imshow(grid_gen.saliency[0, 0].numpy(), cmap="inferno", alpha=0.55,
                   extent=(0, big_w, big_h, 0), interpolation="bilinear")
    axes[3].set_title(f"saliency {grid_gen.grid_shape[0]}x{grid_gen.grid_shape[1]} over the image")
    axes[4].imshow(full)
    pts = ((coarse[0] + 1) / 2 * torch.tensor([big_w - 1, big_h - 1])).numpy()
    for r in range(pts.shape[0]):
        axes[4].plot(pts[r, :, 0], pts[r, :, 1], color="yellow", lw=0.6)
    for c in range(pts.shape[1]):
        axes[4].plot(pts[:, c, 0], pts[:, c, 1], color="yellow", lw=0.6)
    axes[4].set_xlim(0, big_w)
    axes[4].set_ylim(big_h, 0)
    axes[4].set_title("warp grid: where each zoomed-image node samples")
    if args.features:
        img_uint8 = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1)
        before, after = feature_panels(cfg, args, img_uint8)
        axes[5].imshow(before, cmap="viridis")
        axes[5].set_title(f"FPN level {args.level} |feature| in the zoomed frame")
        axes[6].imshow(after, cmap="viridis")
        axes[6].set_title(f"FPN level {args.level} |feature| after unzoom")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"{osp.basename(args.config)} — {osp.basename(path)}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    atomic_savefig(fig, args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_main(main, "visualize_zoom")
