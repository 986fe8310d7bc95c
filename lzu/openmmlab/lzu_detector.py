"""LZU on any mmdet / mmdet3d detector whose features are backbone(+neck).

``LZUDetectorMixin`` goes first in the bases of a detector class; it builds an
``lzu.core.wrapper.LZU`` from the config keys below, overrides ``extract_feat``
(zoom, backbone, neck, unzoom) and moves each sample's metainfo to the frame the
head sees: the image uniformly resized to ``output_shape`` (and padded). A new
detector is three lines::

    @MODELS.register_module()
    class LZUYOLOX(LZUDetectorMixin, YOLOX):
        \"\"\"YOLOX with zoom / unzoom.\"\"\"

Config keys (besides the detector's own):
    grid_generator: ``dict(type='FixedGrid', saliency_file=..., output_shape=(H, W), ...)``.
    unzoom_border: ``'exact'`` (default) or ``'paper'`` (``lzu.core.unzoom``).
    zoom_region: ``'image'`` (default: each image's own region) or ``'padded'``
        (the paper's 3-D code: the whole padded batch; output aspect ratio must
        match the input's and the output must not be larger).
    follow_flips: flip the saliency with flipped images (default True).
    pad_size_divisor: for the zoomed batch (default: the data preprocessor's).

Metainfo moved per sample (once; a flag makes it idempotent): ``img_shape``,
``pad_shape``, ``batch_input_shape``, ``scale_factor`` (times ``(sx, sy)``, so
``rescale=True`` returns boxes in the original image), ``cam2img`` rows 0/1 (3-D),
and in training the 2-D GT boxes and ``centers_2d``.
"""

import numpy as np

from lzu.core.fixed_grid import FixedGrid
from lzu.core.unzoom import BORDERS
from lzu.core.wrapper import LZU, REGIONS
from lzu.infra.errors import UserInputError

__all__ = ["LZUDetectorMixin", "ZoomShapeError", "scale_metainfo"]

_ZOOMED_FLAG = "lzu_zoomed"
_INPUT_SHAPE = "lzu_input_shape"
_GRID_GENERATORS = {"FixedGrid": FixedGrid}


class ZoomShapeError(UserInputError, ValueError):
    """``grid_generator.output_shape`` does not fit the input images."""


def _build_grid_generator(cfg):
    if not isinstance(cfg, dict):
        return cfg  # an already built module
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind in _GRID_GENERATORS:
        return _GRID_GENERATORS[kind](**cfg)
    from mmengine.registry import MODELS

    return MODELS.build(dict(cfg, type=kind))


def _scaled_cam2img(cam2img, sx, sy):
    """Row 0 (fx, cx) times ``sx`` and row 1 (fy, cy) times ``sy``; keeps list/array type."""
    mat = np.array(cam2img, dtype=np.float64)
    mat[0] *= sx
    mat[1] *= sy
    return mat.tolist() if isinstance(cam2img, list) else mat.astype(np.asarray(cam2img).dtype)


def scale_metainfo(data_sample, scale, img_shape, pad_shape, with_gt):
    """Move one data sample to the frame of its image resized by ``scale = (sx, sy)``.

    ``scale`` may be a single number (isotropic). Idempotent: a sample already
    moved is left alone. Works for ``DetDataSample`` and ``Det3DDataSample``.
    """
    sx, sy = (scale, scale) if np.isscalar(scale) else scale
    meta = data_sample.metainfo
    if meta.get(_ZOOMED_FLAG, False):
        return data_sample
    old_sf = meta.get("scale_factor", (1.0, 1.0))
    update = {
        _INPUT_SHAPE: tuple(meta["img_shape"][:2]) if "img_shape" in meta else None,
        "img_shape": tuple(img_shape),
        "pad_shape": tuple(pad_shape),
        "batch_input_shape": tuple(pad_shape),
        "scale_factor": (float(old_sf[0]) * sx, float(old_sf[1]) * sy),
        _ZOOMED_FLAG: True,
    }
    if "cam2img" in meta:
        update["cam2img"] = _scaled_cam2img(meta["cam2img"], sx, sy)
    data_sample.set_metainfo(update)
    if with_gt:
        gt = data_sample.get("gt_instances")
        if gt is not None and "bboxes" in gt:
            bboxes = gt.bboxes
            if hasattr(bboxes, "rescale_"):  # mmdet's box types
                bboxes.rescale_((sx, sy))
            else:
                gt.bboxes = bboxes * bboxes.new_tensor([sx, sy, sx, sy])
        gt3d = data_sample.get("gt_instances_3d")
        if gt3d is not None and "centers_2d" in gt3d:
            gt3d.centers_2d = gt3d.centers_2d * gt3d.centers_2d.new_tensor([sx, sy])
    return data_sample


class LZUDetectorMixin:
    """Zoom / unzoom for a detector class; see the module docstring."""

    def __init__(self, grid_generator, unzoom_border="exact", zoom_region="image",
                 follow_flips=True, pad_size_divisor=None, **kwargs):
        super().__init__(**kwargs)
        if unzoom_border not in BORDERS:
            raise UserInputError(
                f"model.unzoom_border must be one of {', '.join(map(repr, BORDERS))}, "
                f"got {unzoom_border!r}"
            )
        if zoom_region not in REGIONS:
            raise UserInputError(
                f"model.zoom_region must be one of {', '.join(map(repr, REGIONS))}, "
                f"got {zoom_region!r}"
            )
        if pad_size_divisor is None:
            pad_size_divisor = getattr(self.data_preprocessor, "pad_size_divisor", 1)
        self.lzu = LZU(_build_grid_generator(grid_generator), border=unzoom_border,
                       region=zoom_region, pad_size_divisor=pad_size_divisor,
                       follow_flips=follow_flips)
        self._lzu_batch = None

    # ------------------------------------------------------------ geometry
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

    def zoom_scale(self, img_shape):
        """``(sx, sy)`` of the zoomed frame relative to an image of ``img_shape``.

        With ``zoom_region='padded'`` (the paper's 3-D code) the scale is
        isotropic, ``s = w / W``; the output must not be larger than the image and
        must keep its aspect ratio (to a pixel), else ``ZoomShapeError``.
        """
        big_h, big_w = (int(v) for v in img_shape[:2])
        h, w = self.output_shape
        if self.lzu.region == "image":
            return (w / float(big_w), h / float(big_h))
        if h > big_h or w > big_w:
            raise ZoomShapeError(
                f"grid_generator.output_shape {(h, w)} is larger than the input image "
                f"{(big_h, big_w)}; with zoom_region='padded' LZU zooms to an image at most "
                "as large as its input (zoom_region='image' allows it)"
            )
        s = w / float(big_w)
        if abs(h - big_h * s) > 1.0:
            raise ZoomShapeError(
                f"grid_generator.output_shape {(h, w)} has a different aspect ratio than the "
                f"input image {(big_h, big_w)}: scale_factor {s:.4f} from the width would "
                f"need height {big_h * s:.1f}; use ({round(big_h * s)}, {w}) "
                "(or zoom_region='image', which allows any aspect ratio)"
            )
        return (s, s)

    # ------------------------------------------------------------ features
    def zoom_inputs(self, imgs):
        """Zoom ``(B, C, Hp, Wp)`` (each image's region and flip from the current batch)."""
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

    # ------------------------------------------------------------ metainfo
    def _to_unzoomed_frame(self, batch_data_samples, with_gt):
        """Record each image's region and flip for the zoom; move the metainfo."""
        h, w = self.output_shape
        pad = self.lzu.padded((h, w))
        shapes, flips = [], []
        for sample in batch_data_samples:
            meta = sample.metainfo
            shape = meta.get(_INPUT_SHAPE) if meta.get(_ZOOMED_FLAG) else None
            shape = tuple(shape or meta["img_shape"][:2])
            shapes.append(shape)
            flips.append(meta.get("flip_direction") if meta.get("flip", False) else None)
            scale_metainfo(sample, self.zoom_scale(shape), (h, w), pad, with_gt)
        self._lzu_batch = (shapes, flips)
        return batch_data_samples

    def loss(self, batch_inputs, batch_data_samples):
        self._to_unzoomed_frame(batch_data_samples, with_gt=True)
        return super().loss(batch_inputs, batch_data_samples)

    def predict(self, batch_inputs, batch_data_samples, rescale=True):
        self._to_unzoomed_frame(batch_data_samples, with_gt=False)
        return super().predict(batch_inputs, batch_data_samples, rescale=rescale)

    def _forward(self, batch_inputs, batch_data_samples=None):
        if batch_data_samples is not None:
            self._to_unzoomed_frame(batch_data_samples, with_gt=False)
        return super()._forward(batch_inputs, batch_data_samples)
