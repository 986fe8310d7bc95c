"""Is an image file complete? One cheap check for every loader and data check.

``check_image_file`` reads only the first and last bytes of a file: an empty file,
and a JPEG without its end-of-image marker or a PNG without its ``IEND`` chunk
(a truncated download or copy), are refused with ``ImageError`` naming the file.
Used at load time by ``lzu.openmmlab.loading`` and over every image by the
segmentation data check (``lzu.infra.runtime``).
"""

import os.path as osp

from lzu.infra.errors import UserInputError

__all__ = ["ImageError", "check_image_file"]


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
