"""``LZUFCOSMono3D``: FCOS3D that sees a zoomed image and unzoomed features.

Data flow for a batch ``imgs`` ``(B, 3, Hp, Wp)`` (normalised, padded by
``Det3DDataPreprocessor``):

1. zoom: ``grid_sample`` the batch on the grid generator's sampling grid,
   giving ``(B, 3, h, w)`` with ``(h, w) = output_shape``; pad it to a multiple
   of the data preprocessor's ``pad_size_divisor``;
2. backbone + neck on the zoomed image;
3. unzoom: every FPN level is resampled with the inverse grid computed for
   that level's (padded) shape, as in the paper, so the head sees features laid
   out like a uniformly downsampled image;
4. the head runs in that frame, so each sample's metainfo is moved to it
   (``img_shape``, ``pad_shape``, ``batch_input_shape``, ``scale_factor``,
   rows 0-1 of ``cam2img``) and, in training, 2-D boxes and projected centres
   are scaled by ``s = w / W``.

Grids are cached per (input shape, level shapes, device, dtype, unzoom border).
"""

import numpy as np
import torch.nn.functional as F
from mmdet3d.models.detectors import FCOSMono3D
from mmdet3d.registry import MODELS

from lzu.core.unzoom import BORDERS, invert_grid, unzoom
from lzu.core.zoom import zoom
from lzu.infra.errors import UserInputError

__all__ = ["LZUFCOSMono3D", "ZoomShapeError", "scale_metainfo"]

_ZOOMED_FLAG = "lzu_zoomed"


class ZoomShapeError(UserInputError, ValueError):
    """``grid_generator.output_shape`` does not fit the input images."""


def _scaled_cam2img(cam2img, s):
    """Rows 0-1 (fx, cx / fy, cy) of an intrinsic matrix times ``s``; keeps list/array type."""
    mat = np.array(cam2img, dtype=np.float64)
    mat[:2] *= s
    return mat.tolist() if isinstance(cam2img, list) else mat.astype(np.asarray(cam2img).dtype)


def scale_metainfo(data_sample, s, img_shape, pad_shape, with_gt):
    """Move one ``Det3DDataSample`` to the frame of an image scaled by ``s``.

    Updates ``img_shape``/``pad_shape``/``batch_input_shape``, multiplies
    ``scale_factor`` by ``s`` and rows 0-1 of ``cam2img`` by ``s``; with
    ``with_gt`` also ``gt_instances.bboxes`` and ``gt_instances_3d.centers_2d``.
    Idempotent: a sample already moved is left alone.
    """
    meta = data_sample.metainfo
    if meta.get(_ZOOMED_FLAG, False):
        return data_sample
    old_sf = meta.get("scale_factor", (1.0, 1.0))
    update = {
        "img_shape": tuple(img_shape),
        "pad_shape": tuple(pad_shape),
        "batch_input_shape": tuple(pad_shape),
        "scale_factor": (float(old_sf[0]) * s, float(old_sf[1]) * s),
        _ZOOMED_FLAG: True,
    }
    if "cam2img" in meta:
        update["cam2img"] = _scaled_cam2img(meta["cam2img"], s)
    data_sample.set_metainfo(update)
    if with_gt:
        if "gt_instances" in data_sample and "bboxes" in data_sample.gt_instances:
            data_sample.gt_instances.bboxes = data_sample.gt_instances.bboxes * s
        gt3d = data_sample.get("gt_instances_3d")
        if gt3d is not None and "centers_2d" in gt3d:
            gt3d.centers_2d = gt3d.centers_2d * s
    return data_sample


@MODELS.register_module()
class LZUFCOSMono3D(FCOSMono3D):
    """FCOS3D with Learning-to-Zoom-and-Unzoom.

    Args:
        grid_generator: config of the grid generator, e.g.
            ``dict(type='FixedGrid', saliency_file='saliency.pkl', output_shape=(675, 1200))``.
        pad_size_divisor: divisor the zoomed image is padded to; ``None`` (default)
            takes the data preprocessor's ``pad_size_divisor`` from the config.
        unzoom_border: ``'exact'`` (default; the true inverse, uncovered border
            pixels sample zero) or ``'paper'`` (the released code's inverse, border
            included; the eight paper configs select it). See ``lzu.core.unzoom``.
        **kwargs: everything ``FCOSMono3D`` takes.
    """

    def __init__(self, grid_generator, pad_size_divisor=None, unzoom_border="exact", **kwargs):
        super().__init__(**kwargs)
        if unzoom_border not in BORDERS:
            raise UserInputError(
                f"model.unzoom_border must be one of {', '.join(map(repr, BORDERS))}, "
                f"got {unzoom_border!r}"
            )
        self.unzoom_border = unzoom_border
        self.grid_generator = MODELS.build(grid_generator)
        if pad_size_divisor is None:
            pad_size_divisor = getattr(self.data_preprocessor, "pad_size_divisor", 1)
        self.pad_size_divisor = int(pad_size_divisor)
        self._inverse_cache = {}

    # ------------------------------------------------------------ geometry
    @property
    def output_shape(self):
        return tuple(self.grid_generator.output_shape)

    def zoom_scale(self, img_shape):
        """Scale ``s = w / W`` of the zoomed frame relative to an image of ``img_shape``.

        Raises ``ValueError`` if ``output_shape`` is larger than the image or its
        aspect ratio disagrees with the image's by more than a pixel.
        """
        big_h, big_w = (int(v) for v in img_shape[:2])
        h, w = self.output_shape
        if h > big_h or w > big_w:
            raise ZoomShapeError(
                f"grid_generator.output_shape {(h, w)} is larger than the input image "
                f"{(big_h, big_w)}; LZU zooms to an image at most as large as its input"
            )
        s = w / float(big_w)
        if abs(h - big_h * s) > 1.0:
            raise ZoomShapeError(
                f"grid_generator.output_shape {(h, w)} has a different aspect ratio than the "
                f"input image {(big_h, big_w)}: scale_factor {s:.4f} from the width would "
                f"need height {big_h * s:.1f}; use ({round(big_h * s)}, {w})"
            )
        return s

    def _padded(self, h, w):
        d = self.pad_size_divisor
        return (-(-h // d) * d, -(-w // d) * d)

    def inverse_grids(self, coarse, input_shape, level_shapes):
        """Inverse grids ``(1, H_l, W_l, 2)`` for each level, cached."""
        key = (
            tuple(input_shape), tuple(level_shapes), coarse.device, coarse.dtype, self.unzoom_border
        )
        if key not in self._inverse_cache:
            self._inverse_cache[key] = [
                invert_grid(
                    coarse[:1],
                    shape,
                    separable=self.grid_generator.separable,
                    border=self.unzoom_border,
                )
                for shape in level_shapes
            ]
        return self._inverse_cache[key]

    # ------------------------------------------------------------ features
    def zoom_inputs(self, imgs):
        """Zoom ``(B, 3, Hp, Wp)`` images and pad to the divisor; returns ``(zoomed, coarse grid)``."""
        upsampled, coarse = self.grid_generator(imgs)
        zoomed = zoom(imgs, upsampled)
        h, w = zoomed.shape[-2:]
        ph, pw = self._padded(h, w)
        return F.pad(zoomed, (0, pw - w, 0, ph - h)), coarse

    def unzoom_features(self, feats, coarse, input_shape):
        """Unzoom every level ``(B, C, H_l, W_l)`` with its (cached) inverse grid."""
        inverses = self.inverse_grids(coarse, input_shape, [tuple(f.shape[-2:]) for f in feats])
        b = feats[0].shape[0]
        return tuple(
            unzoom(f, inv.expand(b, -1, -1, -1)) for f, inv in zip(feats, inverses, strict=True)
        )

    def extract_feat(self, batch_inputs_dict):
        imgs = batch_inputs_dict["imgs"]
        zoomed, coarse = self.zoom_inputs(imgs)
        feats = self.backbone(zoomed)
        if self.with_neck:
            feats = self.neck(feats)
        return self.unzoom_features(feats, coarse, imgs.shape[-2:])

    # ------------------------------------------------------------ metainfo
    def _to_zoomed_frame(self, batch_data_samples, with_gt):
        h, w = self.output_shape
        pad = self._padded(h, w)
        for sample in batch_data_samples:
            s = self.zoom_scale(sample.metainfo["img_shape"])
            scale_metainfo(sample, s, (h, w), pad, with_gt)
        return batch_data_samples

    def loss(self, batch_inputs_dict, batch_data_samples):
        self._to_zoomed_frame(batch_data_samples, with_gt=True)
        return super().loss(batch_inputs_dict, batch_data_samples)

    def predict(self, batch_inputs_dict, batch_data_samples, rescale=True):
        self._to_zoomed_frame(batch_data_samples, with_gt=False)
        return super().predict(batch_inputs_dict, batch_data_samples, rescale=rescale)
