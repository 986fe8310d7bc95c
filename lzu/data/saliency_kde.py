"""Dataset-wide saliency: a kernel density estimate of where training boxes lie.

The paper ships its nuScenes ``saliency.pkl`` without the code that made it.
Its shape matches FOVEA's dataset-wide KDE ("KDE S_D", Thavamani et al. 2021):

* every 2-D ground-truth box with centre ``(cx, cy)`` and size ``(w, h)``
  (image pixels) contributes an anisotropic Gaussian evaluated at the grid
  nodes, ``exp(-0.5 ((x - cx)^2 / (b w) + (y - cy)^2 / (b h)))`` -- the
  variance is the bandwidth ``b`` times the box size in pixels;
* nodes are spaced evenly from 0 to W across the ``gw`` columns and from 0 to
  H down the ``gh`` rows;
* each box's Gaussian is normalised to sum to the amplitude ``a``, and a
  uniform ``1 / (2p + 1)^2`` (``p = min(gh, gw) - 1``) is added to every cell;
* the sum over boxes is normalised to 1.

Each box's Gaussian factorises into a row and a column profile, so the sum over
N boxes is one ``(gh, N) @ (N, gw)`` product: fast for a million boxes.
"""

import math

import numpy as np
import torch

from lzu.infra.errors import UserInputError

__all__ = ["SaliencyParameterError", "check_grid_shape", "coco_boxes", "coco_image_size",
           "kde_saliency", "node_positions"]


class SaliencyParameterError(UserInputError, ValueError):
    """A saliency setting (grid shape, image size, bandwidth, amplitude) that cannot work."""


def check_grid_shape(grid_shape):
    """``(gh, gw)`` as ints; both must be whole numbers >= 2 (the zoom needs a 2x2 grid)."""
    try:
        gh, gw = grid_shape
        shown = f"{gh}x{gw}"
        ok = all(float(v).is_integer() and v >= 2 for v in (gh, gw))
    except (TypeError, ValueError):
        shown, ok = repr(grid_shape), False
    if not ok:
        raise SaliencyParameterError(
            f"saliency grid shape {shown} must be two whole numbers >= 2 (rows, columns), "
            "e.g. 27 48")
    return int(gh), int(gw)


def _check_kde_settings(image_size, bandwidth, amplitude):
    try:
        width, height = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise SaliencyParameterError(f"image size {image_size!r} must be (width, height)") from None
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise SaliencyParameterError(
            f"image size {image_size[0]}x{image_size[1]} must be positive (width, height in pixels)")
    if not (math.isfinite(bandwidth) and bandwidth > 0):
        raise SaliencyParameterError(
            f"bandwidth {bandwidth} must be a positive number (variance = bandwidth x box size; "
            "FOVEA: 64)")
    if not (math.isfinite(amplitude) and amplitude >= 0):
        raise SaliencyParameterError(
            f"amplitude {amplitude} must be >= 0 (the mass of each box's Gaussian; 1 by default)")
    return width, height


def coco_boxes(path):
    """``(boxes (N, 4) as (left, top, width, height), number of images)`` of a COCO json.

    The json is checked first (``lzu.data.coco_json``); crowd and ``ignore`` boxes are skipped.
    """
    from lzu.data.coco_json import check_coco, read_coco

    data = read_coco(path)
    check_coco(data, path)
    boxes = [a["bbox"] for a in data["annotations"]
             if not a.get("iscrowd", 0) and not a.get("ignore", 0)]
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), len(data["images"])


def coco_image_size(path):
    """The most common ``(width, height)`` of the images of a COCO json (None if not recorded)."""
    import collections
    import json

    with open(path, encoding="utf-8") as f:
        images = json.load(f)["images"]
    sizes = collections.Counter((im["width"], im["height"]) for im in images
                                if "width" in im and "height" in im)
    return sizes.most_common(1)[0][0] if sizes else None


def node_positions(n, extent):
    """``n`` node positions spaced evenly over ``[0, extent]`` (pixels)."""
    return np.linspace(0.0, float(extent), int(n))


def _profiles(centres, sizes, nodes, bandwidth):
    """Row-normalised 1-D Gaussian profiles ``(N, n)`` (log-domain, no underflow)."""
    var = bandwidth * np.maximum(sizes, 1.0)
    logits = -0.5 * (nodes[None, :] - centres[:, None]) ** 2 / var[:, None]
    logits -= logits.max(axis=1, keepdims=True)
    prof = np.exp(logits)
    return prof / prof.sum(axis=1, keepdims=True)


def kde_saliency(boxes, image_size=(1600, 900), grid_shape=(27, 48), bandwidth=64.0,
                 amplitude=1.0, chunk=200_000):
    """Saliency ``(1, 1, gh, gw)`` float32 tensor summing to 1 from 2-D boxes.

    Args:
        boxes: ``(N, 4)`` array of ``(left, top, width, height)`` in pixels.
        image_size: ``(W, H)`` of the images the boxes live in.
        grid_shape: ``(gh, gw)`` of the saliency grid (paper: 27 x 48).
        bandwidth: ``b``; the Gaussian variance is ``b`` times the box size (FOVEA: 64).
        amplitude: ``a``, the mass of each box's Gaussian.

    Raises:
        SaliencyParameterError: a grid smaller than 2x2, a non-positive image size or
            bandwidth, or a negative amplitude.
    """
    gh, gw = check_grid_shape(grid_shape)
    width, height = _check_kde_settings(image_size, bandwidth, amplitude)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape[0] == 0:
        raise ValueError("kde_saliency: no boxes; the saliency of an empty set is undefined")
    if not np.isfinite(boxes).all():
        raise ValueError("kde_saliency: boxes contain NaN or Inf")
    xs, ys = node_positions(gw, width), node_positions(gh, height)
    pad = min(gh, gw) - 1
    density = np.zeros((gh, gw))
    for start in range(0, boxes.shape[0], chunk):
        left, top, w, h = boxes[start : start + chunk].T
        col = _profiles(left + 0.5 * w, w, xs, bandwidth)
        row = _profiles(top + 0.5 * h, h, ys, bandwidth)
        density += amplitude * row.T @ col
    density += boxes.shape[0] / float(2 * pad + 1) ** 2
    density /= density.sum()
    return torch.from_numpy(density).float().reshape(1, 1, gh, gw)
