"""``LoadImageFromFileMono3D`` that names the file when an image or its intrinsics are bad.

mmdet3d's transform decodes whatever bytes it finds: a truncated JPEG decodes
partly (grey below the cut) without a word, an empty or non-image file fails
with ``'NoneType' object has no attribute 'shape'``, and an image whose size
disagrees with its intrinsics trains and scores silently. This subclass, which
replaces the upstream registration so every config uses it unchanged, checks per
image at load time and raises ``ImageError`` naming the file:

* the file is complete (a JPEG ends with its EOI marker, a PNG with ``IEND``)
  and decodes;
* ``cam2img`` is a finite, invertible 3x3 (or 3x4 / 4x4) matrix
  (``lzu.data.image_check.check_cam2img``; ``lzu.apis.data_check.check_data`` runs it over
  every info up front);
* the principal point lies in the middle half of the decoded image on both
  axes, which holds for any real camera and fails for an image of another size
  than its intrinsics describe.
"""

import os.path as osp

import numpy as np
from mmdet3d.datasets.transforms import LoadImageFromFileMono3D
from mmdet3d.registry import TRANSFORMS

from lzu.data.image_check import ImageError, check_cam2img, check_image_file

__all__ = ["CheckedLoadImageFromFileMono3D", "ImageError", "check_cam2img", "check_image_file"]


@TRANSFORMS.register_module(name="LoadImageFromFileMono3D", force=True)
class CheckedLoadImageFromFileMono3D(LoadImageFromFileMono3D):
    """mmdet3d's mono-3D image loader plus the checks in the module docstring."""

    def transform(self, results):
        images = results["images"]
        info = images["CAM2"] if "CAM2" in images else next(iter(images.values()))
        path = info["img_path"]
        check_cam2img(info.get("cam2img"), f"image '{path}'")
        if osp.isfile(path):
            check_image_file(path)
        try:
            out = super().transform(results)
        except (AttributeError, ValueError, OSError) as err:
            raise ImageError(f"cannot decode image '{path}': {err}") from None
        if out is None:
            return None
        h, w = out["img"].shape[:2]
        cx, cy = np.asarray(out["cam2img"], dtype=np.float64)[:2, 2]
        if not (w / 4 <= cx <= 3 * w / 4 and h / 4 <= cy <= 3 * h / 4):
            raise ImageError(
                f"image '{path}' is {w}x{h}, but its intrinsics put the principal point at "
                f"({cx:.1f}, {cy:.1f}): the image does not have the size its info describes"
            )
        return out
