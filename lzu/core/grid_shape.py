"""The one check of a grid shape (two whole numbers >= 2) and of the grid generators' settings.

Every shape the method takes goes through ``check_grid_shape``: the zoomed image's
``output_shape`` ``(H, W)`` and the saliency's ``grid_shape`` ``(gh, gw)`` of the grid
generators (``lzu.core.fixed_grid``, ``lzu.core.adaptive_grid``), the box saliency's
grid (``lzu.core.box_saliency``) and the saliency files made from data
(``lzu.data.saliency_kde``, ``lzu.data.saliency_boundary``). A zoom needs at least a 2x2
grid. Whole-valued floats (``225.0``) are accepted, fractions (``225.5``), booleans,
strings and anything but two numbers are not. A refusal raises ``GridShapeError``
(``lzu.core.errors``) naming the setting, the value and the expected axes.

Every grid generator (``FixedGrid``, ``AdaptiveGrid``, and so FOVEA's and LZU's models, fixed
or adaptive) checks its settings with ``check_grid_settings`` when it is constructed, and
``lzu.apis.runtime.load_config`` runs the same check on a config's ``model.grid_generator``
before any data is read: ``output_shape`` and ``grid_shape`` by ``check_grid_shape``,
``attraction_fwhm`` a finite number > 0 (0 divides by zero: NaN grids), ``separable`` and
``anti_crop`` booleans (a string ``'False'`` would be true). A refusal raises
``GridSettingError`` (a ``UserInputError``) naming the setting and the value.
"""

import math
import numbers

import numpy as np

from lzu.core.errors import GridSettingError, GridShapeError

__all__ = ["GRID_SETTINGS", "GridSettingError", "GridShapeError", "check_attraction_fwhm",
           "check_grid_settings", "check_grid_shape"]

#: the settings ``check_grid_settings`` checks, as the grid generators name them
GRID_SETTINGS = ("output_shape", "grid_shape", "attraction_fwhm", "separable", "anti_crop")


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


def check_attraction_fwhm(fwhm, name="grid_generator.attraction_fwhm"):
    """``fwhm`` as a float: a finite number > 0 of grid cells, or ``GridSettingError``."""
    ok = isinstance(fwhm, numbers.Real) and not isinstance(fwhm, bool)
    if not (ok and math.isfinite(fwhm) and fwhm > 0):
        raise GridSettingError(f"{name} must be a positive number of grid cells (finite; paper: 10), "
                               f"got {fwhm!r}")
    return float(fwhm)


def _check_flag(value, name):
    """A boolean setting: ``True``/``False`` (numpy's too) or 0/1."""
    if isinstance(value, bool | np.bool_) or (isinstance(value, numbers.Integral)
                                              and value in (0, 1)):
        return bool(value)
    raise GridSettingError(f"{name} must be True or False, got {value!r}")


def check_grid_settings(settings, prefix="grid_generator"):
    """The grid generator settings in the mapping ``settings`` that are given, checked.

    Returns a dict of the checked values (shapes as int tuples, ``attraction_fwhm`` a float,
    flags booleans) for the keys of ``GRID_SETTINGS`` present in ``settings``; a
    ``grid_shape`` of ``None`` (``AdaptiveGrid``: any) stays ``None``. Other keys are ignored.
    """
    checked = {}
    for key in GRID_SETTINGS:
        if key not in settings:
            continue
        value, name = settings[key], f"{prefix}.{key}"
        if key == "output_shape":
            checked[key] = check_grid_shape(value, name, "H, W")
        elif key == "grid_shape":
            checked[key] = None if value is None else check_grid_shape(value, name, "gh, gw")
        elif key == "attraction_fwhm":
            checked[key] = check_attraction_fwhm(value, name)
        else:
            checked[key] = _check_flag(value, name)
    return checked
