"""JSON records the project wrote earlier and reads back, read in one place.

``read_json_record(path, what, fix, keys)`` reads a record the project itself wrote (a
metrics file, a demo's options, a data set's completion record, a benchmark report or run,
a pack's manifest) and checks its shape: the file can be read, is JSON, holds an object,
and each key of ``keys`` is there with a value of the given type (or one of a tuple of
types; ``float`` takes an int too, and no number type takes a bool). Anything else raises
``RecordError``, one line naming ``what``, the file, what is wrong and ``fix``: a corrupt,
truncated or hand-edited record ends a tool with that line, never with a traceback or a
result made from the wrong values. A record kept only as a cache catches ``RecordError``
and says why it rebuilds.
"""

import json
import os

from lzu.infra.errors import UserInputError

__all__ = ["RecordError", "read_json_record", "record_error"]


class RecordError(UserInputError):
    """A record the project wrote earlier cannot be read back as what it should be."""


def _kind(value):
    return "null" if value is None else type(value).__name__


def _has_type(value, types):
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:
        return False
    if float in types and isinstance(value, int):
        return True
    return isinstance(value, types)


def record_error(path, what, problem, fix):
    """The ``RecordError`` of ``what`` at ``path``: ``<what> '<path>' <problem>; <fix>``."""
    return RecordError(f"{what} '{os.fspath(path)}' {problem}; {fix}")


def read_json_record(path, what, fix, keys=None):
    """The JSON object in ``path``, each of ``keys`` (name -> type or tuple of types) present
    with a value of its type; else ``RecordError`` (see the module docstring)."""
    problem = None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as err:
        problem = f"cannot be read ({err.strerror or err})"
    except ValueError as err:  # not JSON, or not UTF-8
        problem = f"is not valid JSON ({err})"
    if problem is None and not isinstance(data, dict):
        problem = f"holds a {_kind(data)}, not an object"
    for key, types in (keys or {}).items():
        if problem is not None:
            break
        if key not in data:
            problem = f"has no '{key}'"
        elif not _has_type(data[key], types):
            names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
            problem = f"has '{key}' of type {_kind(data[key])}, not {names}"
    if problem is not None:
        raise record_error(path, what, problem, fix)
    return data
