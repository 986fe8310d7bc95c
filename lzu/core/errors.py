"""The core's error types, one family per kind of setting, and the one for grid shapes.

* ``GridSettingError`` (a ``UserInputError`` and a ``ValueError``): a grid generator setting
  (``attraction_fwhm``, a shape, the saliency's values) that cannot give a finite grid.
* ``BoxSaliencyError`` (a ``ValueError``): boxes, scores or settings that cannot make a
  saliency (NaN, inverted, off-image).
* ``GridShapeError``: a grid or output shape that is not two whole numbers >= 2. Every shape
  is checked by ``lzu.core.grid_shape.check_grid_shape``, whichever module takes it, so this
  one type is both of the above: a caller that catches the errors of the grid generators or
  of the box saliency (or ``ValueError``, or ``UserInputError``) catches it too.
"""

from lzu.infra.errors import UserInputError

__all__ = ["BoxSaliencyError", "GridSettingError", "GridShapeError"]


class GridSettingError(UserInputError, ValueError):
    """A grid generator setting (``attraction_fwhm``, ``grid_shape``, the saliency's values)
    that cannot give a finite grid."""


class BoxSaliencyError(ValueError):
    """Boxes, scores or settings that cannot make a saliency (NaN, inverted, off-image)."""


class GridShapeError(GridSettingError, BoxSaliencyError):
    """A grid or output shape is not two whole numbers >= 2 (``lzu.core.grid_shape``)."""
