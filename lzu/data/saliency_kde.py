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

The estimate is the method's box KDE, ``lzu.core.box_saliency.box_kde`` (the one the
adaptive saliency makes per image); this module reads the boxes and checks the settings.
"""

import math

import numpy as np
import torch

from lzu.core.box_saliency import box_kde
from lzu.core.box_saliency import node_positions as box_node_positions
from lzu.core.grid_shape import check_grid_shape
from lzu.infra.errors import UserInputError

__all__ = ["SaliencyParameterError", "check_saliency_grid", "coco_boxes", "coco_image_size",
           "kde_saliency", "node_positions"]


class SaliencyParameterError(UserInputError, ValueError):
    """A saliency setting (image size, bandwidth, amplitude) that cannot work; a grid shape
    that cannot is refused with ``lzu.core.grid_shape.GridShapeError``."""


def check_saliency_grid(grid_shape):
    """``(gh, gw)`` of a saliency made from data, as ints (``lzu.core.grid_shape``)."""
    return check_grid_shape(grid_shape, "saliency grid shape", "rows, columns", example="27 48")


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
    """``n`` node positions spaced evenly over ``[0, extent]`` (pixels): the KDE's, as numpy."""
    return box_node_positions(n, extent).numpy()


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
        GridShapeError: a grid that is not two whole numbers >= 2.
        SaliencyParameterError: a non-positive image size or bandwidth, or a negative
            amplitude.
    """
    gh, gw = check_saliency_grid(grid_shape)
    width, height = _check_kde_settings(image_size, bandwidth, amplitude)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape[0] == 0:
        raise ValueError("kde_saliency: no boxes; the saliency of an empty set is undefined")
    if not np.isfinite(boxes).all():
        raise ValueError("kde_saliency: boxes contain NaN or Inf")
    left, top, w, h = torch.from_numpy(boxes).unbind(-1)
    kde = box_kde(left + 0.5 * w, top + 0.5 * h, w, h, (width, height), (gh, gw), bandwidth,
                  amplitude, chunk=chunk)
    return kde.float().reshape(1, 1, gh, gw)
