"""Adaptive saliency for video detection: frame ``t`` zooms on frame ``t - 1``'s boxes.

``VideoSaliency`` is what an adaptive LZU or FOVEA detector (``grid_generator=dict(
type='AdaptiveGrid', ...)`` plus ``adaptive_saliency=dict(...)``) uses to make one
saliency per image of a batch, in that image's own (possibly flipped) frame; the
grids and their inverses are then built batched (``lzu.core.adaptive_grid``).

Where the boxes come from
    test (``predict``): the previous frame's detections of the same sequence,
    scoring at least ``score_thr`` (``lzu.core.frame_memory``); the data samples must
    carry ``sid`` (sequence id) and ``fid`` (frame index) in their metainfo.
    train (``loss``), ``train_source``:
    ``'previous_gt'`` (default) the GT boxes of the previous frame of the sequence
    (metainfo ``prev_gt_bboxes``, written by ``ArgoverseHDDataset``), jittered: what
    the model sees at test time, the previous frame's objects, including motion
    between frames and objects that have just appeared;
    ``'current_gt'`` the frame's own GT boxes, jittered (the source FOVEA's released
    code trains with).
    Jitter (``jitter_rule``): ``'relative'`` (default, ours): each box's centre moves by
    ``N(0, jitter * side)`` per axis and each side is scaled by ``exp(N(0, jitter))``;
    ``'fovea'`` (FOVEA's released code): each centre moves by ``2 jitter (N(0, 1) - 0.5)``
    pixels per axis (FOVEA: ``jitter=50``), sizes kept, boxes not clipped
    (``lzu.core.fovea_saliency``). Torch's global RNG, seeded by the runner.

Saliency of one image: ``lzu.core.box_saliency.boxes_to_saliency`` in the original
image's pixels (``ori_shape``, so ``bandwidth`` means what it means for the dataset
KDE), mixed with the dataset prior (``prior_file``, ``prior_weight``), then flipped
like the image.

The prior mix is FOVEA's composite saliency S_C (FOVEA: weight 0.5; ``prior_weight=0``
is its S_I); the default weight 0.2 is ours.

Fallbacks (documented, never silent errors):
    no previous frame (first frame of a sequence, a missing frame, frames out of
    order: ``FrameMemory``), or no box above the threshold (``empty``): ``'prior'``
    (default, adaptive LZU's rule) -> the prior alone; ``'uniform'`` (FOVEA's rule) -> the
    KDE part is the uniform map, mixed as usual (S_I: the identity grid; S_C:
    ``0.5 S_D + 0.5 uniform``); a reset after a sequence's first frame is logged (a
    warning, once per run and sequence);
    a box partly outside its frame is clipped to it; a box wholly outside (or empty
    after clipping) is dropped: it says nothing about this frame.
    The frames of a test or validation loop that zoomed on boxes and those that fell back
    are counted (``counts``) and logged when the loop ends, and written to the test tool's
    results record (``lzu.openmmlab.scoring_checks``); a loop where every frame fell back
    is a loud warning.
Refused (``AdaptiveSaliencyError``, one message naming the frame):
    missing ``sid`` / ``fid`` / ``ori_shape`` metainfo, a NaN detection score or a
    non-finite box (``NonFiniteDetectionsError``: a diverged checkpoint).

Ordering: frames of one sequence must be predicted in order. A batch may hold
frames of different sequences (state is keyed by ``sid``); when it holds several
frames of one sequence, ``waves`` splits it into sub-batches run one after the other,
the k-th wave holding the k-th frame (by ``fid``) of each sequence. The val/test
sampler ``SequenceOrderSampler`` orders frames by ``(fid, sid)`` so that a batch
normally holds one frame per sequence.
"""

import math

import numpy as np
import torch
from mmengine.logging import print_log

from lzu.core.box_saliency import BoxSaliencyError, boxes_to_saliency
from lzu.core.fixed_grid import FLIP_DIMS
from lzu.core.fovea_saliency import fovea_jitter, fovea_saliency
from lzu.core.frame_memory import FrameMemory
from lzu.core.saliency_io import load_saliency, validate_saliency
from lzu.infra.errors import UserInputError
from lzu.openmmlab.frame_movers import register_geometry_free
from lzu.openmmlab.scoring_checks import NonFiniteOutputError

__all__ = ["AdaptiveSaliencyError", "NonFiniteDetectionsError", "TRAIN_SOURCES", "VideoSaliency",
           "flip_boxes"]

TRAIN_SOURCES = ("previous_gt", "current_gt")
#: what an image with no box gets (module docstring)
EMPTY_RULES = ("prior", "uniform")
#: how training boxes are jittered (module docstring)
JITTER_RULES = ("relative", "fovea")
#: metainfo every frame needs (``PackDetInputs(meta_keys=...)``)
SEQUENCE_KEYS = ("sid", "fid")
PREV_GT = "prev_gt_bboxes"
# the sequence keys hold no geometry; the previous frame's boxes are in the original image's
# pixels, which no zoom or resize changes (they are converted when the saliency is made)
register_geometry_free(meta=(*SEQUENCE_KEYS, PREV_GT))


class AdaptiveSaliencyError(UserInputError, ValueError):
    """A frame, its metainfo or its detections cannot make an adaptive saliency."""


class NonFiniteDetectionsError(AdaptiveSaliencyError, NonFiniteOutputError):
    """A frame's detections hold NaN scores or non-finite boxes (diverged weights)."""


def flip_boxes(boxes, direction, width, height):
    """x1y1x2y2 ``boxes`` ``(N, 4)`` flipped like an image of ``(width, height)`` (mmcv names)."""
    if direction is None:
        return boxes
    out = boxes.clone()
    if direction in ("horizontal", "diagonal"):
        out[:, 0], out[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    if direction in ("vertical", "diagonal"):
        out[:, 1], out[:, 3] = height - boxes[:, 3], height - boxes[:, 1]
    return out


def _flip_of(meta):
    return meta.get("flip_direction") if meta.get("flip", False) else None


def _scale_of(meta):
    sf = meta.get("scale_factor", (1.0, 1.0))
    sx, sy = (float(sf), float(sf)) if np.isscalar(sf) else (float(sf[0]), float(sf[1]))
    return sx, sy


class VideoSaliency:
    """Per-frame saliencies from boxes of the previous frame (see the module docstring).

    Args:
        grid_shape: ``(gh, gw)`` of the saliencies (the grid generator's).
        prior_file: the dataset-wide saliency (``tools/make_saliency.py``; or a tensor
            ``(1, 1, gh, gw)``), used alone
            for frames without previous boxes and mixed in with ``prior_weight``;
            may be ``None`` when ``prior_weight == 0`` and ``empty='uniform'`` (S_I).
        prior_weight: share of the prior, in ``[0, 1]`` (FOVEA's composite saliency S_C
            mixes with weight 0.5; the LZU configs' 0.2 is ours).
        bandwidth, amplitude: the KDE's (FOVEA: 64, 1), see ``lzu.core.box_saliency``.
        score_thr: detections scoring below it are not used.
        train_source: ``'previous_gt'`` or ``'current_gt'``.
        jitter: jitter of training boxes, >= 0 (relative, or pixels for ``'fovea'``).
        empty: ``'prior'`` or ``'uniform'`` (FOVEA), what an image with no box gets.
        jitter_rule: ``'relative'`` or ``'fovea'``.
        learned_kde: the model learns the KDE's bandwidth and amplitude (FOVEA's LKDE:
            ``lzu.core.fovea_saliency.LearnedKDE`` from ``bandwidth`` and ``amplitude``;
            ``batch_saliency``'s ``kde`` gives their current values).
        owner: the model's class name, for messages.
    """

    def __init__(self, grid_shape, prior_file=None, prior_weight=0.2, bandwidth=64.0,
                 amplitude=1.0, score_thr=0.3, train_source="previous_gt", jitter=0.05,
                 empty="prior", jitter_rule="relative", learned_kde=False, owner="the model"):
        self.owner = owner
        for key, value, allowed in (("train_source", train_source, TRAIN_SOURCES),
                                    ("empty", empty, EMPTY_RULES),
                                    ("jitter_rule", jitter_rule, JITTER_RULES)):
            if value not in allowed:
                raise AdaptiveSaliencyError(
                    f"{owner}: adaptive_saliency.{key} must be one of "
                    f"{', '.join(map(repr, allowed))}, got {value!r}")
        self.empty, self.jitter_rule = empty, jitter_rule
        for key, value, ok in (("prior_weight", prior_weight, lambda v: 0.0 <= v <= 1.0),
                               ("bandwidth", bandwidth, lambda v: v > 0),
                               ("amplitude", amplitude, lambda v: v > 0),
                               ("score_thr", score_thr, lambda v: 0.0 <= v <= 1.0),
                               ("jitter", jitter, lambda v: v >= 0)):
            if not (isinstance(value, int | float) and math.isfinite(value) and ok(value)):
                raise AdaptiveSaliencyError(
                    f"{owner}: adaptive_saliency.{key} = {value!r} is out of range")
        self.grid_shape = tuple(int(v) for v in grid_shape)
        if prior_file is None:
            if prior_weight > 0 or empty == "prior":
                raise AdaptiveSaliencyError(
                    f"{owner}: adaptive_saliency.prior_file is needed (prior_weight > 0 or "
                    "empty='prior'); only FOVEA's S_I (prior_weight=0, empty='uniform') has none")
            self.prior_file, self.prior = None, None
        elif torch.is_tensor(prior_file):
            self.prior_file = None
            self.prior = validate_saliency(prior_file, self.grid_shape).double()
        else:
            self.prior_file = str(prior_file)
            self.prior = load_saliency(self.prior_file, self.grid_shape).double()
        self.prior_weight = float(prior_weight)
        self.bandwidth = float(bandwidth)
        self.amplitude = float(amplitude)
        self.score_thr = float(score_thr)
        self.train_source = train_source
        self.jitter = float(jitter)
        self.learned_kde = bool(learned_kde)
        self.memory = FrameMemory()
        #: test frames of the current loop zoomed on previous boxes (``'boxes'``) / fallen
        #: back (under ``empty``'s name: ``'prior'`` or ``'uniform'``) because no box was
        #: above the threshold or there was no previous frame; ``reset`` starts them over
        self.counts = {"boxes": 0, self.empty: 0}
        self._warned = set()

    # ------------------------------------------------------------------ metainfo
    def _meta(self, sample, key):
        meta = sample.metainfo
        if key not in meta:
            raise AdaptiveSaliencyError(
                f"{self.owner}: adaptive saliency needs data sample metainfo '{key}' (got "
                f"{sorted(meta)}); use ArgoverseHDDataset with a json whose images have 'sid' and "
                "'fid', and add 'sid', 'fid' (and 'prev_gt_bboxes' for training) to "
                "PackDetInputs' meta_keys (configs/det2d/_base_/adaptive.py)")
        return meta[key]

    def sequence_of(self, sample):
        """``(sid, fid)`` of a sample, as ints."""
        values = []
        for key in SEQUENCE_KEYS:
            value = self._meta(sample, key)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise AdaptiveSaliencyError(
                    f"{self.owner}: metainfo '{key}' must be a whole number >= 0, got {value!r} "
                    f"({sample.metainfo.get('img_path', 'a frame')})")
            values.append(int(value))
        return tuple(values)

    def _frame(self, sample):
        h, w = (int(v) for v in self._meta(sample, "ori_shape")[:2])
        return w, h

    # ------------------------------------------------------------------ boxes
    def _clean(self, boxes, width, height, where):
        """Clip to the frame; drop boxes wholly outside it (or empty); refuse non-finite."""
        boxes = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4).cpu()
        if not torch.isfinite(boxes).all():
            raise AdaptiveSaliencyError(f"{self.owner}: a box of {where} is NaN or infinite")
        boxes = torch.stack([boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height),
                             boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)], dim=1)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return boxes[keep]

    def _jittered(self, boxes):
        if self.jitter == 0 or boxes.shape[0] == 0:
            return boxes
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        noise = torch.randn(boxes.shape[0], 4).to(boxes.dtype) * self.jitter
        cx, cy = cx + noise[:, 0] * w, cy + noise[:, 1] * h
        w, h = w * noise[:, 2].exp(), h * noise[:, 3].exp()
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1)

    def _train_boxes(self, sample, width, height):
        meta = sample.metainfo
        where = meta.get("img_path", "a training frame")
        if self.train_source == "previous_gt":
            prev = self._meta(sample, PREV_GT)
            if prev is None:
                return None  # first frame of its sequence, or its previous frame is missing
            boxes = torch.as_tensor(np.asarray(prev, dtype=np.float64)).reshape(-1, 4)
        else:
            gt = sample.gt_instances.bboxes
            gt = gt.tensor if hasattr(gt, "tensor") else gt
            in_h, in_w = (int(v) for v in meta["img_shape"][:2])
            boxes = flip_boxes(gt.detach().double().cpu(), _flip_of(meta), in_w, in_h)
            sx, sy = _scale_of(meta)
            boxes = boxes / boxes.new_tensor([sx, sy, sx, sy])
        boxes = self._clean(boxes, width, height, where)
        if self.jitter_rule == "fovea":
            return fovea_jitter(boxes, self.jitter)
        return self._clean(self._jittered(boxes), width, height, where)

    def _test_boxes(self, sample, width, height):
        sid, fid = self.sequence_of(sample)
        found = self.memory.previous(sid, fid)
        if found is None:
            return None
        boxes, scores = found
        return self._clean(boxes[scores >= self.score_thr], width, height,
                           sample.metainfo.get("img_path", f"sequence {sid} frame {fid - 1}"))

    def _count(self, boxes):
        self.counts[self.empty if boxes is None or boxes.shape[0] == 0 else "boxes"] += 1

    def reset(self):
        """Forget every sequence's detections and start the frame counts over (a new loop)."""
        self.memory.clear()
        self.counts = dict.fromkeys(self.counts, 0)

    # ------------------------------------------------------------------ saliency
    def batch_saliency(self, samples, training, device, dtype, kde=None):
        """``(B, 1, gh, gw)`` saliencies, each in its image's own (flipped) frame.

        ``kde``: ``(bandwidth, amplitude)`` in place of the configured ones (a learned KDE's
        float64 scalars; the saliency then carries their gradient)."""
        bandwidth, amplitude = (self.bandwidth, self.amplitude) if kde is None else kde
        frames = [self._frame(s) for s in samples]
        boxes = []
        for sample, (w, h) in zip(samples, frames, strict=True):
            if not training:
                self.sequence_of(sample)
            found = (self._train_boxes if training else self._test_boxes)(sample, w, h)
            if not training:
                self._count(found)
            boxes.append(torch.zeros(0, 4, dtype=torch.float64) if found is None else found)
        parts, order = [], []
        for size in sorted(set(frames)):  # one batched pass per frame size (usually one)
            idx = [i for i, f in enumerate(frames) if f == size]
            try:
                if self.empty == "uniform":
                    part = fovea_saliency(
                        [boxes[i] for i in idx], size, self.grid_shape, bandwidth,
                        amplitude, self.prior, self.prior_weight,
                        clip=self.jitter_rule != "fovea", dtype=torch.float64)
                else:
                    part = boxes_to_saliency(
                    [boxes[i] for i in idx], size, self.grid_shape, bandwidth,
                    amplitude, self.prior, self.prior_weight, dtype=torch.float64)
            except BoxSaliencyError as err:
                raise AdaptiveSaliencyError(f"{self.owner}: {err}") from None
            parts.extend(part.unbind(0))
            order.extend(idx)
        maps = [parts[order.index(i)] for i in range(len(samples))]
        flips = [_flip_of(s.metainfo) for s in samples]
        maps = [m.flip([d - 1 for d in FLIP_DIMS[f]]) if f else m for m, f in zip(maps, flips, strict=False)]
        return torch.stack(maps).to(device=device, dtype=dtype)

    # ------------------------------------------------------------------ test time
    def waves(self, samples):
        """Index lists: the k-th holds the k-th frame (by ``fid``) of each sequence in the batch."""
        order = {}
        for i, sample in enumerate(samples):
            sid, fid = self.sequence_of(sample)
            order.setdefault(sid, []).append((fid, i))
        out = []
        for frames in order.values():
            for k, (_, i) in enumerate(sorted(frames)):
                if k == len(out):
                    out.append([])
                out[k].append(i)
        return [sorted(wave) for wave in out]

    def update(self, results, rescale=True):
        """Remember each frame's detections for its next frame.

        ``rescale``: whether the boxes are already in the original image's pixels
        (else they are divided by the sample's ``scale_factor``)."""
        for sample in results:
            sid, fid = self.sequence_of(sample)
            pred = sample.pred_instances
            boxes, scores = pred.bboxes.detach().double().cpu(), pred.scores.detach().double().cpu()
            if torch.isnan(scores).any() or not torch.isfinite(boxes).all():
                raise NonFiniteDetectionsError(
                    f"{self.owner}: the detections of sequence {sid} frame {fid} "
                    f"({sample.metainfo.get('img_path', '?')}) have NaN scores or non-finite "
                    "boxes (a diverged checkpoint?); they cannot steer the next frame's zoom")
            meta = sample.metainfo
            if not rescale:
                sx, sy = _scale_of(meta)
                boxes = boxes / boxes.new_tensor([sx, sy, sx, sy])
            w, h = self._frame(sample)
            boxes = flip_boxes(boxes, _flip_of(meta), w, h)
            resets = self.memory.resets
            self.memory.store(sid, fid, boxes, scores)
            if self.memory.resets > resets and sid not in self._warned:
                self._warned.add(sid)
                _, expected, got = self.memory.last_reset
                print_log(f"{self.owner}: sequence {sid} jumps from frame {expected - 1} to {got} "
                          "(a missing frame, or frames out of order): frame "
                          f"{got} zooms with the dataset prior", logger="current", level=30)
