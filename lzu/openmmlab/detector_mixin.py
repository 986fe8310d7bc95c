"""LZU on any mmdet / mmdet3d detector whose features are backbone(+neck).

``LZUDetectorMixin`` goes first in the bases of a detector class (``lzu.openmmlab.models``
registers the LZU detectors); through ``lzu.openmmlab.task_mixin.TaskMixin`` and
``lzu.openmmlab.features_mixin.LZUFeaturesMixin`` it builds an
``lzu.core.wrapper.LZU`` from the config keys below, overrides ``extract_feat``
(zoom, backbone, neck, unzoom) and moves each sample's metainfo to the frame the
head sees: the image uniformly resized to ``output_shape`` (and padded). A new
detector is three lines::

    @MODELS.register_module()
    class LZUYOLOX(LZUDetectorMixin, YOLOX):
        \"\"\"YOLOX with zoom / unzoom.\"\"\"

Config keys (besides the detector's own): those of ``lzu.openmmlab.features_mixin``
(``grid_generator``, ``unzoom_border``, ``zoom_region``, ``follow_flips``,
``pad_size_divisor``, ``adaptive_saliency``). With ``zoom_region='padded'`` (the paper's 3-D code) the
output aspect ratio must match the input's and the output must not be larger.

What moves into that frame, per sample (once; a flag makes it idempotent), is
``lzu.openmmlab.frame_movers``' business: ``img_shape``, ``pad_shape``,
``batch_input_shape``, ``scale_factor`` (times ``(sx, sy)``, so ``rescale=True``
returns boxes in the original image), ``border``, ``homography_matrix``, camera
matrices by their convention (``cam2img`` rows, or ``trans_mat``), and in training
the GT and ignored boxes, instance masks, ``centers_2d`` and keypoints. A field it
does not know is refused at the first batch, naming it.

Adaptive (``grid_generator=dict(type='AdaptiveGrid', ...)``, ``adaptive_saliency``):
each image's saliency comes from boxes (``lzu.openmmlab.video_saliency``: in
training from GT, at test time from the previous frame's detections, predicted in
frame order per sequence), its grid and inverse grids are built batched, and the
unzoomed frame, metainfo and head are exactly those of the fixed model.
"""

import numpy as np

from lzu.infra.errors import UserInputError
from lzu.openmmlab.features_mixin import INPUT_SHAPE, ZOOMED_FLAG
from lzu.openmmlab.frame_movers import FrameChange, move_sample
from lzu.openmmlab.task_mixin import TaskMixin

__all__ = ["LZUDetectorMixin", "ZoomShapeError", "scale_metainfo"]

#: metainfo a detector's head reads, set even when the sample lacks it
DETECTOR_META = ("img_shape", "pad_shape", "batch_input_shape", "scale_factor")


class ZoomShapeError(UserInputError, ValueError):
    """``grid_generator.output_shape`` does not fit the input images."""


def scale_metainfo(data_sample, scale, img_shape, pad_shape, with_gt, owner="the model",
                   seg_pad_value=255):
    """Move one data sample to the frame of its image resized by ``scale = (sx, sy)``.

    ``scale`` may be a single number (isotropic); ``img_shape`` / ``pad_shape`` are
    the target frame's. Idempotent: a sample already moved is left alone. Works for
    ``DetDataSample`` and ``Det3DDataSample``; see ``lzu.openmmlab.frame_movers``.
    """
    sx, sy = (scale, scale) if np.isscalar(scale) else scale
    meta = data_sample.metainfo
    if meta.get(ZOOMED_FLAG, False):
        return data_sample
    src = tuple(int(v) for v in meta["img_shape"][:2]) if "img_shape" in meta else None
    change = FrameChange((float(sx), float(sy)), src, tuple(img_shape), tuple(pad_shape),
                         seg_pad_value=seg_pad_value, owner=owner)
    move_sample(data_sample, change, with_gt=with_gt, ensure=DETECTOR_META)
    data_sample.set_metainfo({INPUT_SHAPE: src, ZOOMED_FLAG: True})
    return data_sample


class LZUDetectorMixin(TaskMixin):
    """Zoom / unzoom for a detector class; see the module docstring."""

    supports_adaptive = True

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

    def _move_sample(self, sample, shape, flip, coarse, zoomed, with_gt, imgs):
        """Move the sample's metainfo (and GT) to the image uniformly resized to
        ``output_shape`` (``scale_metainfo``)."""
        if not zoomed:
            h, w = self.output_shape
            scale_metainfo(sample, self.zoom_scale(shape), (h, w), self.lzu.padded((h, w)),
                           with_gt, owner=type(self).__name__, seg_pad_value=self.seg_pad_value)
        return sample
