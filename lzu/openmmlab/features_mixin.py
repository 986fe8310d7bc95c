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
    pad_size_divisor: for the zoomed batch. Default: the data preprocessor's
        ``pad_size_divisor`` (mmdet) or ``size_divisor`` (mmseg) when it is above 1,
        else the backbone's largest stride, measured once at the first batch (a
        forward of a 256x256 zero image in eval mode, no gradients), so a zoomed batch
        never reaches a neck with a size it cannot take. A backbone that cannot be
        measured so is refused, asking for ``model.pad_size_divisor``.

Batch augments (``data_preprocessor.batch_augments``) that change the input scale,
such as YOLOX's ``BatchSyncRandomResize``, are refused at the first training batch:
LZU zooms every image to ``output_shape``, so the backbone would always see that
size and the multi-scale training would silently stop. Scale-keeping augments
(``SCALE_KEEPING_BATCH_AUGMENTS``) run as usual.
"""

import torch

from lzu.core.adaptive_grid import AdaptiveGrid
from lzu.core.fixed_grid import FixedGrid
from lzu.core.unzoom import BORDERS
from lzu.core.wrapper import LZU, REGIONS
from lzu.infra.errors import UserInputError
from lzu.openmmlab.adaptive_mixin import AdaptiveSaliencyMixin

__all__ = ["INPUT_SHAPE", "SCALE_KEEPING_BATCH_AUGMENTS", "ZOOMED_FLAG", "LZUFeaturesMixin",
           "build_grid_generator"]

_GRID_GENERATORS = {"FixedGrid": FixedGrid, "AdaptiveGrid": AdaptiveGrid}
#: metainfo keys a task mixin sets when it moves a sample into the unzoomed frame (once):
#: the flag, and the image's own ``(h, w)`` before the move
ZOOMED_FLAG = "lzu_zoomed"
INPUT_SHAPE = "lzu_input_shape"
#: data-preprocessor batch augments that keep the input scale (run as usual under LZU)
SCALE_KEEPING_BATCH_AUGMENTS = {"BatchFixedSizePad"}
#: side of the square zero image the backbone's largest stride is measured on
_PROBE_SIZE = 256


class LZUFeaturesMixin(AdaptiveSaliencyMixin):
    """Zoom / backbone / neck / unzoom for a model class; see the module docstring."""

    #: the ``zoom_region`` values a task supports
    zoom_regions = REGIONS

    def __init__(self, grid_generator, unzoom_border="exact", zoom_region="image",
                 follow_flips=True, pad_size_divisor=None, adaptive_saliency=None, **kwargs):
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
        if pad_size_divisor is None:
            pad_size_divisor = _default_pad_divisor(self.data_preprocessor)
        #: measure the backbone's largest stride at the first batch
        self._pad_divisor_pending = pad_size_divisor is None
        self.lzu = LZU(build_grid_generator(grid_generator), border=unzoom_border,
                       region=zoom_region, pad_size_divisor=pad_size_divisor or 1,
                       follow_flips=follow_flips)
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
        self.resolve_pad_divisor(imgs)
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

    def backbone_largest_stride(self, channels, device, dtype):
        """The largest stride of the backbone's outputs, by one forward of a zero image."""
        owner = type(self).__name__
        was_training = self.backbone.training
        probe = torch.zeros(1, channels, _PROBE_SIZE, _PROBE_SIZE, device=device, dtype=dtype)
        self.backbone.eval()
        try:
            with torch.no_grad():
                maps = _feature_maps(self.backbone(probe))
        except Exception as exc:  # any failure means: ask the user
            raise UserInputError(
                f"{owner}: the data preprocessor pads to no divisor and the backbone's largest "
                f"stride could not be measured ({type(exc).__name__}: {exc}); set "
                "model.pad_size_divisor (e.g. 32 for a ResNet / CSPNet backbone)") from None
        finally:
            self.backbone.train(was_training)
        strides = [_PROBE_SIZE / m.shape[-1] for m in maps if m.shape[-1] > 0]
        if not strides:
            raise UserInputError(
                f"{owner}: the data preprocessor pads to no divisor and the backbone returns no "
                "feature maps to measure its stride on; set model.pad_size_divisor")
        return max(1, int(round(max(strides))))

    def resolve_pad_divisor(self, batch_inputs=None):
        """Once: the zoomed batch's divisor from the backbone when nothing else gave one.

        The probe has the channels of ``batch_inputs`` (3 without) and the backbone's own
        device and dtype.
        """
        if not self._pad_divisor_pending:
            return
        channels = 3
        if batch_inputs is not None:
            imgs = batch_inputs["imgs"] if isinstance(batch_inputs, dict) else batch_inputs
            channels = imgs.shape[1]
        param = next(self.backbone.parameters(), None)
        device, dtype = ((param.device, param.dtype) if param is not None
                         else (torch.device("cpu"), torch.float32))
        self.lzu.pad_size_divisor = self.backbone_largest_stride(channels, device, dtype)
        self._pad_divisor_pending = False

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


def _default_pad_divisor(data_preprocessor):
    """The data preprocessor's divisor when it pads to one above 1, else ``None``."""
    for name in ("pad_size_divisor", "size_divisor"):
        value = getattr(data_preprocessor, name, None)
        if value and int(value) > 1:
            return int(value)
    return None


def _feature_maps(outs):
    if torch.is_tensor(outs):
        return [outs]
    if isinstance(outs, dict):
        outs = list(outs.values())
    return [m for m in outs if torch.is_tensor(m) and m.dim() == 4]
