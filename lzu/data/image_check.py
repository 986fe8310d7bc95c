"""Is an image file complete, are its intrinsics usable? Cheap checks for every loader and data check.

``check_image_file`` reads only the first and last bytes of a file: an empty file,
and a JPEG without its end-of-image marker or a PNG without its ``IEND`` chunk
(a truncated download or copy), are refused with ``ImageError`` naming the file.
``check_cam2img`` refuses a camera matrix that is missing, non-finite or singular.
Used at load time by ``lzu.openmmlab.loading``, over every image by the
segmentation data check (``lzu.data.seg_folders``) and over every info by the
nuScenes one (``lzu.data.infos.check_intrinsics``).
"""

import os.path as osp

import numpy as np

from lzu.infra.errors import UserInputError

__all__ = ["ImageError", "check_cam2img", "check_image_file"]


class ImageError(UserInputError, ValueError):
    """An image file or its intrinsics are unusable."""


def check_image_file(path):
    """Raise ``ImageError`` if ``path`` is empty, or a JPEG/PNG whose end is missing."""
    try:
        size = osp.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(max(0, size - 1024))
            tail = f.read()
    except OSError as err:
        raise ImageError(f"cannot read image '{path}': {err.strerror}") from None
    if size == 0:
        raise ImageError(f"image '{path}' is empty (0 bytes)")
    if head.startswith(b"\xff\xd8") and b"\xff\xd9" not in tail:
        raise ImageError(f"image '{path}' is a truncated JPEG (no end-of-image marker)")
    if head.startswith(b"\x89PNG") and b"IEND" not in tail:
        raise ImageError(f"image '{path}' is a truncated PNG (no IEND chunk)")


def check_cam2img(cam2img, where):
    """Raise ``ImageError`` unless ``cam2img`` is a finite, invertible camera matrix."""
    if cam2img is None:
        raise ImageError(f"{where}: no cam2img (camera intrinsics)")
    try:
        mat = np.asarray(cam2img, dtype=np.float64)
    except (TypeError, ValueError):
        raise ImageError(f"{where}: cam2img is not a numeric matrix: {cam2img!r}") from None
    if mat.shape not in ((3, 3), (3, 4), (4, 4)):
        raise ImageError(f"{where}: cam2img must be 3x3, 3x4 or 4x4, got shape {mat.shape}")
    if not np.isfinite(mat).all():
        raise ImageError(f"{where}: cam2img has NaN or Inf entries")
    k = mat[:3, :3]
    if abs(np.linalg.det(k)) < 1e-9 * max(1.0, np.abs(k).max()) ** 3:
        raise ImageError(f"{where}: cam2img is singular: {k.tolist()}")
