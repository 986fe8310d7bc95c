"""The part of LZU every OpenMMLab model shares: zoom, backbone (+neck), unzoom.

``LZUFeaturesMixin`` goes first in the bases of a model class whose features are
``backbone(+neck)`` (mmdet / mmdet3d detectors, mmseg segmentors). It builds an
``lzu.core.wrapper.LZU`` from the config keys below and overrides
``extract_feat``: zoom the batch, run the backbone (+neck), unzoom every feature
level. What a task does with its metainfo and labels (boxes, intrinsics, label
maps) lives in the task's mixin (``detector_mixin``, ``segmentor_mixin``,
``fovea_mixin``, on the template of ``task_mixin``), which records each image's
region and flip with ``record_batch`` before the features are extracted. The
adaptive saliency's plumbing is ``adaptive_mixin``'s.

Config keys (besides the model's own):
    grid_generator: ``dict(type='FixedGrid', saliency_file=..., output_shape=(H, W), ...)``.
    unzoom_border: ``'exact'`` (default) or ``'paper'`` (``lzu.core.unzoom``).
    zoom_region: ``'image'`` (default: each image's own region) or ``'padded'``
        (the paper's 3-D code: the whole padded batch).
    follow_flips: flip the saliency with flipped images (default True).
    adaptive_saliency: with ``grid_generator=dict(type='AdaptiveGrid', ...)`` (detectors
        only): the keys of ``lzu.openmmlab.video_saliency.VideoSaliency`` (``prior_file``,
        ``prior_weight``, ``bandwidth``, ``amplitude``, ``score_thr``, ``train_source``,
        ``jitter``): each image gets its own saliency from boxes (the previous frame's
        detections at test time), its own grid and inverse grids, all batched
        (``lzu.openmmlab.adaptive_mixin``).
    pipeline_pad: the ``Pad`` step of the config's test pipeline, as its own arguments
        (``size`` as ``(w, h)``, ``size_divisor``, ``pad_to_square``, ``pad_val`` in raw
        pixel values), or ``None`` when the pipeline pads nothing. ``lzu.apis.runtime``
        (``load_config``, ``build_model``) derives it from the config
        (``lzu.openmmlab.pipeline_padding``); a model built from ``cfg.model`` alone
        takes ``None``.
    pad_size_divisor: the batching's divisor, in place of the data preprocessor's.

The zoomed batch is padded exactly as the plain model's own input of size
``output_shape`` would be (``zoom_padding``, the one place that says how): first
as the pipeline's ``pipeline_pad`` would pad it (its pixel value normalized as the
data preprocessor normalizes the image), then as the data preprocessor batches it
(mmdet / mmdet3d: ``pad_size_divisor`` with ``pad_value``; mmseg: ``size`` or
``size_divisor`` in training, ``test_cfg``'s at test time, with ``pad_val``). A
model that pads none (DETR family, mmseg models without a divisor) gets none.

Batch augments (``data_preprocessor.batch_augments``) that change the input scale,
such as YOLOX's ``BatchSyncRandomResize``, are refused at the first training batch:
LZU zooms every image to ``output_shape``, so the backbone would always see that
size and the multi-scale training would silently stop. Scale-keeping augments
(``SCALE_KEEPING_BATCH_AUGMENTS``) run as usual.
"""

from lzu.core.adaptive_grid import AdaptiveGrid
from lzu.core.fixed_grid import FixedGrid
from lzu.core.padding import PadStep
from lzu.core.unzoom import BORDERS
from lzu.core.wrapper import LZU, REGIONS
from lzu.infra.errors import UserInputError
from lzu.openmmlab.adaptive_mixin import AdaptiveSaliencyMixin
from lzu.openmmlab.pipeline_padding import PAD_KEYS

__all__ = ["INPUT_SHAPE", "SCALE_KEEPING_BATCH_AUGMENTS", "ZOOMED_FLAG", "LZUFeaturesMixin",
           "build_grid_generator"]

_GRID_GENERATORS = {"FixedGrid": FixedGrid, "AdaptiveGrid": AdaptiveGrid}
#: metainfo keys a task mixin sets when it moves a sample into the unzoomed frame (once):
#: the flag, and the image's own ``(h, w)`` before the move
ZOOMED_FLAG = "lzu_zoomed"
INPUT_SHAPE = "lzu_input_shape"
#: data-preprocessor batch augments that keep the input scale (run as usual under LZU)
SCALE_KEEPING_BATCH_AUGMENTS = {"BatchFixedSizePad"}


class LZUFeaturesMixin(AdaptiveSaliencyMixin):
    """Zoom / backbone / neck / unzoom for a model class; see the module docstring."""

    #: the ``zoom_region`` values a task supports
    zoom_regions = REGIONS

    def __init__(self, grid_generator, unzoom_border="exact", zoom_region="image",
                 follow_flips=True, pad_size_divisor=None, pipeline_pad=None,
                 adaptive_saliency=None, **kwargs):
        super().__init__(**kwargs)
        if unzoom_border not in BORDERS:
            raise UserInputError(
                f"model.unzoom_border must be one of {', '.join(map(repr, BORDERS))}, "
                f"got {unzoom_border!r}"
            )
        if zoom_region not in self.zoom_regions:
            raise UserInputError(
                f"model.zoom_region must be one of {', '.join(map(repr, self.zoom_regions))} "
                f"for {type(self).__name__}, got {zoom_region!r}"
            )
        self._pipeline_step = self._pipeline_pad_step(pipeline_pad)
        self._pad_size_divisor = pad_size_divisor
        self.lzu = LZU(build_grid_generator(grid_generator), border=unzoom_border,
                       region=zoom_region, follow_flips=follow_flips)
        self.lzu.padding = self.zoom_padding()
        self._lzu_batch = None
        self.video_saliency = self.build_video_saliency(adaptive_saliency)
        self.learned_kde = self.build_learned_kde()

    # ------------------------------------------------------------ the method's path
    def extract_feat(self, batch_inputs):
        """Zoom the batch, run the backbone (+neck) on it, unzoom every feature level."""
        imgs = batch_inputs["imgs"] if isinstance(batch_inputs, dict) else batch_inputs
        zoomed, state = self.zoom_inputs(imgs)
        feats = self.backbone(zoomed)
        if self.with_neck:
            feats = self.neck(feats)
        return self.unzoom_features(feats, state)

    def timed_extract_feat(self, batch_inputs, data_samples, clock):
        """``extract_feat`` as ``predict`` runs it, with a clock read between its steps.

        Moves ``data_samples`` to the zoomed frame first (as ``predict`` does; once per
        sample), then zooms, runs backbone and neck, and unzooms. Returns ``(feats, (t0, t1,
        t2, t3))``: ``clock()`` before the zoom, after it, after the neck and after the unzoom
        (latency measurements: ``lzu.openmmlab.latency``).
        """
        imgs = batch_inputs["imgs"] if isinstance(batch_inputs, dict) else batch_inputs
        t0 = clock()
        self.to_head_frame(data_samples, with_gt=False)
        zoomed, state = self.zoom_inputs(imgs)
        t1 = clock()
        feats = self.backbone(zoomed)
        if self.with_neck:
            feats = self.neck(feats)
        t2 = clock()
        feats = self.unzoom_features(feats, state)
        return feats, (t0, t1, t2, clock())

    def record_batch(self, shapes, flips, grids=None):
        """Each image's valid ``(h, w)`` and flip direction (and, adaptive, its grids), for
        the next ``zoom_inputs``."""
        self._lzu_batch = (list(shapes), list(flips), grids)

    def zoom_inputs(self, imgs):
        """Zoom ``(B, C, Hp, Wp)`` (each image's region and flip from ``record_batch``)."""
        self.lzu.padding = self.zoom_padding()
        shapes, flips, grids = self._lzu_batch or (None, None, None)
        self._lzu_batch = None  # used once: a later direct call must not see a stale batch
        if shapes is not None and len(shapes) != imgs.shape[0]:
            shapes, flips, grids = None, None, None
        if grids is None and self.video_saliency is not None:
            raise UserInputError(
                f"{type(self).__name__}: an adaptive model zooms through loss/predict (which "
                "make each image's saliency from its boxes), not a bare extract_feat")
        return self.lzu.zoom(imgs, shapes, flips, grids)

    def unzoom_features(self, feats, state):
        """Every feature level back to the uniformly resized frame (``state``: the zoom's)."""
        return self.lzu.unzoom(feats, state)

    # ------------------------------------------------------------ around the path
    @property
    def grid_generator(self):
        return self.lzu.grid_generator

    @property
    def output_shape(self):
        return self.lzu.output_shape

    @property
    def unzoom_border(self):
        return self.lzu.border

    @unzoom_border.setter
    def unzoom_border(self, value):
        if value not in BORDERS:
            raise UserInputError(f"unzoom_border must be one of {BORDERS}, got {value!r}")
        self.lzu.border = value

    @property
    def seg_pad_value(self):
        """Label value of padded label-map pixels (the data preprocessor's, else 255)."""
        for name in ("seg_pad_val", "seg_pad_value"):
            value = getattr(self.data_preprocessor, name, None)
            if value is not None:
                return int(value)
        return 255

    def zoom_padding(self):
        """The steps the zoomed batch is padded by (``lzu.core.padding.PadStep``): those the
        plain model's own input of size ``output_shape`` gets in the current mode."""
        steps = []
        if self._pipeline_step is not None:  # its value normalized by the current buffers
            step = self._pipeline_step
            steps.append(PadStep(step.size_divisor, step.size, step.square,
                                 _normalized(self.data_preprocessor, step.value)))
        return tuple(steps) + (_batching_step(self.data_preprocessor, self.training,
                                              self._pad_size_divisor),)

    def _pipeline_pad_step(self, pipeline_pad):
        """``pipeline_pad`` (a ``Pad``'s arguments) as a ``PadStep`` of raw pixel values."""
        if not pipeline_pad:
            return None
        owner = type(self).__name__
        unknown = sorted(set(pipeline_pad) - set(PAD_KEYS))
        if unknown:
            raise UserInputError(
                f"{owner}: model.pipeline_pad has {', '.join(map(repr, unknown))}; it takes a "
                f"Pad's {', '.join(PAD_KEYS)}")
        size = pipeline_pad.get("size")
        value = pipeline_pad.get("pad_val", 0)
        if isinstance(value, dict):
            value = value.get("img", 0)
        return PadStep(size_divisor=int(pipeline_pad.get("size_divisor") or 1),
                       size=None if size is None else (int(size[1]), int(size[0])),
                       square=bool(pipeline_pad.get("pad_to_square", False)), value=value)

    def check_batch_augments(self):
        """Refuse data-preprocessor batch augments that change the input scale (training)."""
        preprocessor = self.data_preprocessor
        if not preprocessor.training:
            return
        for augment in getattr(preprocessor, "batch_augments", None) or ():
            name = type(augment).__name__
            if name not in SCALE_KEEPING_BATCH_AUGMENTS:
                raise UserInputError(
                    f"{type(self).__name__}: data_preprocessor.batch_augments has {name}; LZU "
                    f"zooms every image to grid_generator.output_shape {self.output_shape}, so a "
                    "batch augment that changes the input scale would silently have no effect. "
                    "Remove it (for several scales, train with several output_shape values), or, "
                    "if it keeps the scale, add its name to lzu.openmmlab.features_mixin."
                    "SCALE_KEEPING_BATCH_AUGMENTS")


def build_grid_generator(cfg):
    """A grid generator from its config dict (``FixedGrid`` or any registered module)."""
    if not isinstance(cfg, dict):
        return cfg  # an already built module
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind in _GRID_GENERATORS:
        return _GRID_GENERATORS[kind](**cfg)
    from mmengine.registry import MODELS

    return MODELS.build(dict(cfg, type=kind))


def _batching_step(preprocessor, training, divisor=None):
    """How the data preprocessor pads a batch of one image (``divisor``: in place of its own)."""
    if hasattr(preprocessor, "seg_pad_val"):  # mmseg: its own rule in training, test_cfg's after
        cfg = (dict(size=preprocessor.size, size_divisor=preprocessor.size_divisor) if training
               else dict(preprocessor.test_cfg or {}))
        size, own = cfg.get("size"), cfg.get("size_divisor")
        value = preprocessor.pad_val
        if size is not None and divisor is None:  # mmseg's stack_batch: a size wins
            return PadStep(size=tuple(int(v) for v in size[-2:]), value=float(value))
    else:
        own, value = getattr(preprocessor, "pad_size_divisor", 1), getattr(preprocessor, "pad_value", 0)
    return PadStep(size_divisor=int(divisor or own or 1), value=float(value))


def _normalized(preprocessor, value):
    """A raw pixel value (a number or one per channel, in the pipeline's channel order) as the
    data preprocessor turns the image into its output: channels swapped, then normalized."""
    mean = getattr(preprocessor, "mean", None)
    channels = mean.numel() if mean is not None else 3
    values = [float(value)] * channels if isinstance(value, int | float) else [float(v) for v in value]
    if getattr(preprocessor, "_channel_conversion", False) or getattr(
            preprocessor, "channel_conversion", False):
        values = values[::-1]
    if getattr(preprocessor, "_enable_normalize", False):
        std = preprocessor.std.reshape(-1).tolist()
        values = [(v - m) / s for v, m, s in zip(values, mean.reshape(-1).tolist(), std, strict=True)]
    return tuple(values)
