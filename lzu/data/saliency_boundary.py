"""Dataset-wide saliency for segmentation: how often each pixel lies on a class boundary.

The setup we reconstruct (from a secondary summary of the paper, not its text)
builds LZU's fixed saliency for Cityscapes from the training label maps:

* a pixel is on a **boundary** when its label differs from the label of one of
  its 4 neighbours (up, down, left, right inside the image); pixels with the
  ignore label are never boundary pixels and never make a neighbour one;
* the **frequency** of a pixel is the number of training maps in which it is a
  boundary pixel divided by the number of maps (all maps share one size);
* the frequency map is **average-pooled** to the saliency grid ``(gh, gw)``
  (``torch.nn.functional.adaptive_avg_pool2d``: exact block means when the map
  size is a multiple of the grid) and normalised to sum to 1, the format of the
  paper's ``saliency.pkl`` (``lzu.core.saliency_io``).
"""

import os

import numpy as np
import torch
import torch.nn.functional as F

from lzu.infra.errors import UserInputError

__all__ = ["LabelMapError", "boundary_frequency", "boundary_map", "boundary_saliency",
           "find_label_maps", "pool_to_grid", "read_label_map"]


class LabelMapError(UserInputError, ValueError):
    """A label map is missing, unreadable, not single-channel, or of another size."""


def boundary_map(label, ignore_index=255):
    """``(H, W)`` bool: pixels whose label differs from a valid 4-neighbour's (see module doc)."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"boundary_map: expected an (H, W) label map, got shape {label.shape}")
    valid = label != ignore_index
    out = np.zeros(label.shape, dtype=bool)
    vertical = (label[:-1] != label[1:]) & valid[:-1] & valid[1:]  # rows i and i + 1
    out[:-1] |= vertical
    out[1:] |= vertical
    horizontal = (label[:, :-1] != label[:, 1:]) & valid[:, :-1] & valid[:, 1:]  # columns j, j + 1
    out[:, :-1] |= horizontal
    out[:, 1:] |= horizontal
    return out


def read_label_map(path):
    """A single-channel label map ``(H, W)`` uint8 from a PNG (train ids), or ``LabelMapError``."""
    import cv2

    label = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    if label is None:
        raise LabelMapError(f"label map '{path}' could not be read as an image")
    if label.ndim != 2:
        raise LabelMapError(
            f"label map '{path}' has shape {label.shape}: expected a single-channel map of "
            "train ids (e.g. *_gtFine_labelTrainIds.png, not the colour or instance maps)"
        )
    return label


def find_label_maps(root, suffix="_gtFine_labelTrainIds.png"):
    """Sorted paths of every file under ``root`` (recursively) ending with ``suffix``."""
    if not os.path.isdir(root):
        raise LabelMapError(f"label folder '{root}' does not exist")
    paths = sorted(
        os.path.join(d, name) for d, _, names in os.walk(root) for name in names
        if name.endswith(suffix)
    )
    if not paths:
        raise LabelMapError(f"no label maps ending with '{suffix}' under '{root}'")
    return paths


def boundary_frequency(paths, ignore_index=255, progress=None):
    """``(H, W)`` float64: the fraction of the maps in ``paths`` where each pixel is a boundary."""
    total, shape = None, None
    for path in progress(paths) if progress else paths:
        label = read_label_map(path)
        if shape is None:
            shape, total = label.shape, np.zeros(label.shape, dtype=np.int64)
        elif label.shape != shape:
            raise LabelMapError(
                f"label map '{path}' is {label.shape[1]}x{label.shape[0]}, the first one is "
                f"{shape[1]}x{shape[0]}: one frequency map needs maps of one size"
            )
        total += boundary_map(label, ignore_index)
    if total is None:
        raise LabelMapError("no label maps given")
    return total / float(len(paths))


def pool_to_grid(frequency, grid_shape):
    """Average-pool ``(H, W)`` to a ``(1, 1, gh, gw)`` float32 tensor that sums to 1."""
    from lzu.data.saliency_kde import check_saliency_grid

    gh, gw = check_saliency_grid(grid_shape)
    freq = torch.as_tensor(np.asarray(frequency, dtype=np.float64))[None, None]
    pooled = F.adaptive_avg_pool2d(freq, (gh, gw))
    if pooled.sum() <= 0:
        raise LabelMapError("the label maps have no class boundary at all: the saliency would be zero")
    return (pooled / pooled.sum()).float()


def boundary_saliency(paths, grid_shape=(32, 32), ignore_index=255, progress=None):
    """Saliency ``(1, 1, gh, gw)`` from the boundary frequency of the label maps in ``paths``."""
    from lzu.data.saliency_kde import check_saliency_grid

    check_saliency_grid(grid_shape)  # before reading every map
    return pool_to_grid(boundary_frequency(paths, ignore_index, progress), grid_shape)
