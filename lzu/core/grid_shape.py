"""The one check of a grid shape: two whole numbers >= 2.

Every shape the method takes goes through ``check_grid_shape``: the zoomed image's
``output_shape`` ``(H, W)`` and the saliency's ``grid_shape`` ``(gh, gw)`` of the grid
generators (``lzu.core.fixed_grid``, ``lzu.core.adaptive_grid``), the box saliency's
grid (``lzu.core.box_saliency``) and the saliency files made from data
(``lzu.data.saliency_kde``, ``lzu.data.saliency_boundary``). A zoom needs at least a 2x2
grid. Whole-valued floats (``225.0``) are accepted, fractions (``225.5``), booleans,
strings and anything but two numbers are not. A refusal raises ``GridShapeError``
(``lzu.core.errors``) naming the setting, the value and the expected axes.
"""

import numbers

from lzu.core.errors import GridShapeError

__all__ = ["GridShapeError", "check_grid_shape"]


def _is_whole_at_least_2(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and float(value).is_integer() and value >= 2)


def check_grid_shape(shape, name="grid_shape", axes="rows, columns", example=None):
    """``shape`` as a tuple of two ints, or ``GridShapeError``.

    Args:
        shape: the value to check, e.g. ``(27, 48)``.
        name: the setting it was given as, named by the error (e.g.
            ``"grid_generator.output_shape"``).
        axes: what its two numbers are, named by the error (e.g. ``"H, W"``).
        example: an example of a good value, added to the error (e.g. ``"27 48"``).
    """
    try:
        values = list(shape)
    except TypeError:
        values = None
    if values is not None and len(values) == 2 and all(map(_is_whole_at_least_2, values)):
        return int(values[0]), int(values[1])
    numbers_given = values is not None and len(values) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
    shown = f"{values[0]}x{values[1]}" if numbers_given else repr(shape)
    hint = f", e.g. {example}" if example else ""
    raise GridShapeError(f"{name} {shown} must be two whole numbers >= 2 ({axes}){hint}")
