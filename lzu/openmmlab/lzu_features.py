"""The part of LZU every OpenMMLab model shares: zoom, backbone (+neck), unzoom.

``LZUFeaturesMixin`` goes first in the bases of a model class whose features are
``backbone(+neck)`` (mmdet / mmdet3d detectors, mmseg segmentors). It builds an
``lzu.core.wrapper.LZU`` from the config keys below and overrides
``extract_feat``. What a task does with its metainfo and labels (boxes,
intrinsics, label maps) lives in the task's mixin: ``lzu_detector`` and
``lzu_segmentor``, which record each image's region and flip with
``record_batch`` before the features are extracted.

Config keys (besides the model's own):
    grid_generator: ``dict(type='FixedGrid', saliency_file=..., output_shape=(H, W), ...)``.
    unzoom_border: ``'exact'`` (default) or ``'paper'`` (``lzu.core.unzoom``).
    zoom_region: ``'image'`` (default: each image's own region) or ``'padded'``
        (the paper's 3-D code: the whole padded batch).
    follow_flips: flip the saliency with flipped images (default True).
    pad_size_divisor: for the zoomed batch (default: the data preprocessor's
        ``pad_size_divisor`` (mmdet) or ``size_divisor`` (mmseg), else 1).
"""

from lzu.core.fixed_grid import FixedGrid
from lzu.core.unzoom import BORDERS
from lzu.core.wrapper import LZU, REGIONS
from lzu.infra.errors import UserInputError

__all__ = ["INPUT_SHAPE", "ZOOMED_FLAG", "LZUFeaturesMixin", "build_grid_generator"]

_GRID_GENERATORS = {"FixedGrid": FixedGrid}
#: metainfo keys a task mixin sets when it moves a sample into the unzoomed frame (once):
#: the flag, and the image's own ``(h, w)`` before the move
ZOOMED_FLAG = "lzu_zoomed"
INPUT_SHAPE = "lzu_input_shape"


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
    for name in ("pad_size_divisor", "size_divisor"):
        value = getattr(data_preprocessor, name, None)
        if value:
            return int(value)
    return 1


class LZUFeaturesMixin:
    """Zoom / backbone / neck / unzoom for a model class; see the module docstring."""

    #: the ``zoom_region`` values a task supports
    zoom_regions = REGIONS

    def __init__(self, grid_generator, unzoom_border="exact", zoom_region="image",
                 follow_flips=True, pad_size_divisor=None, **kwargs):
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
        self.lzu = LZU(build_grid_generator(grid_generator), border=unzoom_border,
                       region=zoom_region, pad_size_divisor=pad_size_divisor,
                       follow_flips=follow_flips)
        self._lzu_batch = None

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

    def record_batch(self, shapes, flips):
        """Each image's valid ``(h, w)`` and flip direction, for the next ``zoom_inputs``."""
        self._lzu_batch = (list(shapes), list(flips))

    def zoom_inputs(self, imgs):
        """Zoom ``(B, C, Hp, Wp)`` (each image's region and flip from ``record_batch``)."""
        shapes, flips = self._lzu_batch or (None, None)
        self._lzu_batch = None  # used once: a later direct call must not see a stale batch
        if shapes is not None and len(shapes) != imgs.shape[0]:
            shapes, flips = None, None
        return self.lzu.zoom(imgs, shapes, flips)

    def unzoom_features(self, feats, state):
        return self.lzu.unzoom(feats, state)

    def extract_feat(self, batch_inputs):
        imgs = batch_inputs["imgs"] if isinstance(batch_inputs, dict) else batch_inputs
        zoomed, state = self.zoom_inputs(imgs)
        feats = self.backbone(zoomed)
        if self.with_neck:
            feats = self.neck(feats)
        return self.unzoom_features(feats, state)
