"""Saliency from boxes: the box KDE, and the adaptive saliency of FOVEA / adaptive LZU.

FOVEA (Thavamani et al. 2021) zooms each video frame on where the previous
frame's detections were, and makes its dataset-wide saliency from the training
set's boxes. Both are one kernel density estimate over boxes, ``box_kde``
(``lzu.data.saliency_kde.kde_saliency`` calls it over a whole training set):

* a box with centre ``(cx, cy)`` and size ``(w, h)`` (pixels) contributes an
  anisotropic Gaussian ``exp(-0.5 ((x - cx)^2 / (b w) + (y - cy)^2 / (b h)))``
  evaluated at the grid nodes (spaced evenly over ``[0, W]`` and ``[0, H]``),
  normalised to sum to the amplitude ``a``; ``b`` is the bandwidth;
* a uniform ``1 / (2p + 1)^2`` per box (``p = min(gh, gw) - 1``) is added to every
  cell, and the map is normalised to sum to 1.

Each box's Gaussian factorises into a row and a column profile, so the sum over
``N`` boxes is one ``(gh, N) @ (N, gw)`` product (in chunks: fast for a million boxes).

``boxes_to_saliency`` makes the per-image saliency: the KDE of each image's boxes,
mixed with a dataset-wide prior so that no region is ever dropped entirely::

    S_b = (1 - prior_weight) * KDE(boxes_b) + prior_weight * prior

An image with no box gets the prior alone (the documented fallback for empty
detections and for the first frame of a sequence).

Conventions: boxes are ``(N, 4)`` ``(x1, y1, x2, y2)`` in pixels of the image they
belong to (mmdet's ``bboxes``); ``image_size`` is ``(W, H)``; saliency maps are
``(B, 1, gh, gw)`` and sum to 1 per image. Everything is computed in one batched
pass (images padded to the largest box count and masked), no loop over images.
"""

import torch

from lzu.core.errors import BoxSaliencyError
from lzu.core.grid_shape import check_grid_shape

__all__ = ["BoxSaliencyError", "box_kde", "boxes_to_saliency", "node_positions"]


def node_positions(n, extent):
    """``n`` node positions spaced evenly over ``[0, extent]`` (pixels), float64."""
    return torch.linspace(0.0, float(extent), int(n), dtype=torch.float64)


def _profiles(centres, sizes, nodes, bandwidth):
    """Per-box 1-D Gaussian profiles ``(..., N, n)``, each summing to 1 (log domain)."""
    var = bandwidth * sizes.clamp(min=1.0)
    logits = -0.5 * (nodes - centres[..., None]) ** 2 / var[..., None]
    return torch.softmax(logits, dim=-1)


def box_kde(cx, cy, w, h, image_size, grid_shape, bandwidth=64.0, amplitude=1.0, mask=None,
            chunk=200_000):
    """The KDE of boxes (see the module docstring): ``(..., gh, gw)`` float64 summing to 1.

    Args:
        cx, cy, w, h: ``(..., N)`` float64 tensors, the boxes' centres and sizes in pixels
            (leading dims: a batch of images, one KDE each).
        image_size: ``(W, H)`` of the images the boxes live in.
        grid_shape: ``(gh, gw)`` of the grid, as ints (checked by the caller).
        bandwidth: ``b``; the Gaussian variance is ``b`` times the box size (FOVEA: 64).
        amplitude: ``a``, the mass of each box's Gaussian.
        mask: optional ``(..., N)`` float64, 1 for a box and 0 for padding.
        chunk: boxes per ``(gh, N) @ (N, gw)`` product (bounds the memory).

    A KDE with no box (all masked out) is all zeros.
    """
    gh, gw = grid_shape
    width, height = image_size
    xs, ys = node_positions(gw, width), node_positions(gh, height)
    n = cx.shape[-1]
    if mask is None:
        counts = torch.full(cx.shape[:-1], float(n), dtype=torch.float64)
    else:
        counts = mask.sum(dim=-1)
    density = None
    for start in range(0, max(n, 1), chunk):
        part = slice(start, start + chunk)
        cols = _profiles(cx[..., part], w[..., part], xs, bandwidth)
        rows = _profiles(cy[..., part], h[..., part], ys, bandwidth)
        if mask is not None:
            rows = rows * mask[..., part, None]
        term = amplitude * torch.einsum("...nh,...nw->...hw", rows, cols)
        density = term if density is None else density + term
    pad = min(gh, gw) - 1
    density = density + (counts / float(2 * pad + 1) ** 2)[..., None, None]
    total = density.sum(dim=(-2, -1), keepdim=True)
    return torch.where((counts > 0)[..., None, None], density / total.clamp(min=1e-300), 0.0)


def _check_settings(grid_shape, bandwidth, amplitude, prior_weight):
    gh, gw = check_grid_shape(grid_shape, "grid_shape", "gh, gw")
    if not bandwidth > 0:
        raise BoxSaliencyError(f"bandwidth must be > 0, got {bandwidth!r}")
    if not amplitude > 0:
        raise BoxSaliencyError(f"amplitude must be > 0, got {amplitude!r}")
    if not 0.0 <= prior_weight <= 1.0:
        raise BoxSaliencyError(f"prior_weight must be in [0, 1], got {prior_weight!r}")
    return gh, gw


def _clean_boxes(boxes, scores, score_thr, index, width, height, clip=True):
    """Boxes of image ``index`` above ``score_thr``, clipped to the image (``clip``); refuses
    bad ones."""
    boxes = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    if scores is not None:
        scores = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
        if scores.shape[0] != boxes.shape[0]:
            raise BoxSaliencyError(
                f"image {index}: {scores.shape[0]} scores for {boxes.shape[0]} boxes")
        if torch.isnan(scores).any():
            raise BoxSaliencyError(f"image {index}: a detection score is NaN")
        boxes = boxes[scores >= score_thr]
    if not torch.isfinite(boxes).all():
        raise BoxSaliencyError(f"image {index}: a box has a NaN or infinite coordinate")
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise BoxSaliencyError(f"image {index}: a box has x2 < x1 or y2 < y1 (expected x1y1x2y2)")
    if not clip:
        return boxes
    outside = (boxes[:, 2] < 0) | (boxes[:, 0] > width) | (boxes[:, 3] < 0) | (boxes[:, 1] > height)
    if outside.any():
        k = int(outside.nonzero()[0])
        raise BoxSaliencyError(
            f"image {index}: box {boxes[k].tolist()} lies entirely outside the "
            f"{width:g}x{height:g} image (boxes must be in the image's own pixels)")
    # partly outside: the part inside the image is what the image shows (clipped in a copy:
    # ``as_tensor`` shares the memory of a caller's float64 array or tensor)
    boxes = boxes.clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0.0, float(width))
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0.0, float(height))
    return boxes


def boxes_to_saliency(boxes, image_size, grid_shape=(27, 48), bandwidth=64.0, amplitude=1.0,
                      prior=None, prior_weight=0.0, scores=None, score_thr=0.0, device=None,
                      dtype=torch.float32, clip=True):
    """Per-image saliency ``(B, 1, gh, gw)`` from per-image boxes (see the module docstring).

    Args:
        boxes: a list of ``B`` tensors/arrays ``(N_b, 4)``, ``(x1, y1, x2, y2)`` pixels.
        image_size: ``(W, H)`` of the images (one size for the batch).
        grid_shape: ``(gh, gw)`` of the saliency (paper: 27 x 48).
        bandwidth: ``b`` (variance = ``b`` x box size in pixels; FOVEA: 64).
        amplitude: ``a``, each box's mass before normalisation.
        prior: ``(1, 1, gh, gw)`` or ``(B, 1, gh, gw)`` non-negative map (e.g. the
            dataset KDE); required when ``prior_weight > 0`` or an image has no box.
        prior_weight: share of the prior in the mix, in ``[0, 1]``.
        scores: optional list of ``B`` score vectors ``(N_b,)``; boxes scoring below
            ``score_thr`` are ignored. A NaN score is refused.
        device, dtype: of the result (default: CPU, float32).
        clip: clip boxes to the image and refuse boxes wholly outside it (default);
            ``False`` takes them as they are (FOVEA's jittered training boxes).

    Boxes partly outside the image are clipped to it; a box entirely outside, an
    inverted or non-finite box, or a NaN score raises ``BoxSaliencyError``.
    """
    gh, gw = _check_settings(grid_shape, bandwidth, amplitude, prior_weight)
    width, height = (float(v) for v in image_size)
    if not (width > 0 and height > 0):
        raise BoxSaliencyError(f"image_size must be positive (W, H), got {tuple(image_size)}")
    if scores is not None and len(scores) != len(boxes):
        raise BoxSaliencyError(f"{len(scores)} score vectors for {len(boxes)} images")
    per_image = [_clean_boxes(b, None if scores is None else scores[i], score_thr, i, width, height,
                              clip)
                 for i, b in enumerate(boxes)]
    batch = len(per_image)
    if batch == 0:
        raise BoxSaliencyError("boxes_to_saliency: an empty batch (no images)")
    counts = torch.tensor([b.shape[0] for b in per_image], dtype=torch.float64)
    packed = torch.nn.utils.rnn.pad_sequence(
        [b if b.shape[0] else b.new_zeros((0, 4)) for b in per_image], batch_first=True)
    if packed.shape[1] == 0:
        packed = torch.zeros(batch, 1, 4, dtype=torch.float64)
    mask = (torch.arange(packed.shape[1])[None, :] < counts[:, None]).to(torch.float64)

    x1, y1, x2, y2 = packed.unbind(-1)
    kde = box_kde(0.5 * (x1 + x2), 0.5 * (y1 + y2), x2 - x1, y2 - y1, (width, height), (gh, gw),
                  bandwidth, amplitude, mask=mask, chunk=max(packed.shape[1], 1))
    has_boxes = counts > 0

    if prior is None:
        if prior_weight > 0 or not bool(has_boxes.all()):
            missing = "an image has no box" if not bool(has_boxes.all()) else "prior_weight > 0"
            raise BoxSaliencyError(f"boxes_to_saliency: {missing}, so a prior saliency is needed")
        mixed = kde
    else:
        prior = torch.as_tensor(prior, dtype=torch.float64).cpu()
        if prior.dim() != 4 or tuple(prior.shape[1:]) != (1, gh, gw) or prior.shape[0] not in (1, batch):
            raise BoxSaliencyError(
                f"prior must have shape (1 or {batch}, 1, {gh}, {gw}), got {tuple(prior.shape)}")
        if not torch.isfinite(prior).all() or (prior < 0).any() or not (prior.sum() > 0):
            raise BoxSaliencyError("prior must be finite, non-negative and not all zero")
        prior = (prior / prior.sum(dim=(2, 3), keepdim=True))[:, 0].expand(batch, gh, gw)
        weight = torch.where(has_boxes, torch.tensor(float(prior_weight), dtype=torch.float64),
                             torch.tensor(1.0, dtype=torch.float64))[:, None, None]
        mixed = (1.0 - weight) * kde + weight * prior
    return mixed[:, None].to(device=device, dtype=dtype)
