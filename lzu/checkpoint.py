"""Safe checkpoint loading on torch >= 2.6: ``weights_only=True`` plus an explicit allowlist.

torch >= 2.6 loads with ``weights_only=True`` by default and mmengine 0.10.7
passes nothing, so an mmengine checkpoint fails to load: its ``meta`` and
``message_hub`` hold numpy arrays and scalars and mmengine's ``HistoryBuffer``
(whose statistics methods pickle as ``getattr(HistoryBuffer, 'mean')``).
Instead of turning the protection off, ``allow_checkpoint_globals`` registers
exactly those globals with ``torch.serialization.add_safe_globals``. The
``getattr`` it registers answers only ``HistoryBuffer``'s statistics methods.
Any other global is still refused by torch, with an error naming it.

The paper's mmcv-full 1.x checkpoints (``meta`` with version strings, config
text and numpy objects, ``state_dict``, ``optimizer``) need the same numpy
globals and load through the same path.
"""

import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ["CHECKPOINT_GLOBALS", "allow_checkpoint_globals", "history_buffer_getattr"]


def history_buffer_getattr(obj, name):
    """``getattr`` restricted to ``HistoryBuffer``'s registered statistics methods."""
    allowed = {"min", "max", "mean", "current", *HistoryBuffer._statistics_methods}
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f"refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only "
        f"HistoryBuffer statistics methods {sorted(allowed)} are allowed"
    )


def _numpy_globals():
    core = np.core.multiarray
    items = [core._reconstruct, core.scalar, np.dtype, np.ndarray]
    # dtype classes (numpy >= 1.25 pickles dtypes through them)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        items += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return items


CHECKPOINT_GLOBALS = [
    *_numpy_globals(),
    HistoryBuffer,
    (history_buffer_getattr, "builtins.getattr"),
]


def allow_checkpoint_globals():
    """Register ``CHECKPOINT_GLOBALS`` with torch's weights-only unpickler (idempotent)."""
    torch.serialization.add_safe_globals(CHECKPOINT_GLOBALS)
