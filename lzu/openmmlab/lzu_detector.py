"""LZU on any mmdet / mmdet3d detector whose features are backbone(+neck).

``LZUDetectorMixin`` goes first in the bases of a detector class; through
``lzu.openmmlab.lzu_features.LZUFeaturesMixin`` it builds an
``lzu.core.wrapper.LZU`` from the config keys below, overrides ``extract_feat``
(zoom, backbone, neck, unzoom) and moves each sample's metainfo to the frame the
head sees: the image uniformly resized to ``output_shape`` (and padded). A new
detector is three lines::

    @MODELS.register_module()
    class LZUYOLOX(LZUDetectorMixin, YOLOX):
        \"\"\"YOLOX with zoom / unzoom.\"\"\"

Config keys (besides the detector's own): those of ``lzu.openmmlab.lzu_features``
(``grid_generator``, ``unzoom_border``, ``zoom_region``, ``follow_flips``,
``pad_size_divisor``). With ``zoom_region='padded'`` (the paper's 3-D code) the
output aspect ratio must match the input's and the output must not be larger.

Metainfo moved per sample (once; a flag makes it idempotent): ``img_shape``,
``pad_shape``, ``batch_input_shape``, ``scale_factor`` (times ``(sx, sy)``, so
``rescale=True`` returns boxes in the original image), ``cam2img`` rows 0/1 (3-D),
and in training the 2-D GT boxes and ``centers_2d``.
"""

import numpy as np

from lzu.infra.errors import UserInputError
from lzu.openmmlab.lzu_features import INPUT_SHAPE, ZOOMED_FLAG, LZUFeaturesMixin

__all__ = ["LZUDetectorMixin", "ZoomShapeError", "scale_metainfo"]


class ZoomShapeError(UserInputError, ValueError):
    """``grid_generator.output_shape`` does not fit the input images."""


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
    if meta.get(ZOOMED_FLAG, False):
        return data_sample
    old_sf = meta.get("scale_factor", (1.0, 1.0))
    update = {
        INPUT_SHAPE: tuple(meta["img_shape"][:2]) if "img_shape" in meta else None,
        "img_shape": tuple(img_shape),
        "pad_shape": tuple(pad_shape),
        "batch_input_shape": tuple(pad_shape),
        "scale_factor": (float(old_sf[0]) * sx, float(old_sf[1]) * sy),
        ZOOMED_FLAG: True,
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


class LZUDetectorMixin(LZUFeaturesMixin):
    """Zoom / unzoom for a detector class; see the module docstring."""

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

    # ------------------------------------------------------------ metainfo
    def _to_unzoomed_frame(self, batch_data_samples, with_gt):
        """Record each image's region and flip for the zoom; move the metainfo."""
        h, w = self.output_shape
        pad = self.lzu.padded((h, w))
        shapes, flips = [], []
        for sample in batch_data_samples:
            meta = sample.metainfo
            shape = meta.get(INPUT_SHAPE) if meta.get(ZOOMED_FLAG) else None
            shape = tuple(shape or meta["img_shape"][:2])
            shapes.append(shape)
            flips.append(meta.get("flip_direction") if meta.get("flip", False) else None)
            scale_metainfo(sample, self.zoom_scale(shape), (h, w), pad, with_gt)
        self.record_batch(shapes, flips)
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
