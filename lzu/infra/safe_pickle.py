"""Unpickling that cannot run code: an allowlist of globals, nothing else.

A pickle may name any importable callable and call it while loading, so
unpickling a file from the internet can run arbitrary code. ``restricted_load``
resolves only the globals in an explicit allowlist and refuses anything else
with an error naming the file and the global it asked for.

Two allowlists: ``TENSOR_GLOBALS`` (a pickled torch tensor: saliency files) and
``DATA_GLOBALS`` (plain data: dicts, lists, tuples, sets, strings, bytes, numbers,
numpy arrays, dtypes and scalars; mmdet3d's info files hold nothing else).
``load_data_pickle`` is the one reader of info files: ``lzu.data.infos.load_infos``
and mmengine's ``pkl``/``pickle`` file handler (``SafePickleHandler`` of
``lzu.openmmlab.mmengine_patches``, used by ``mmengine.load`` and so by every mmdet3d
dataset and metric) both go through it.

A torch tensor pickled with the plain ``pickle`` module (the format of the
paper's ``saliency.pkl``) references ``torch.storage._load_from_bytes``, which
calls ``torch.load`` with the weights-only guard off. We substitute a version that
loads the embedded storage with ``weights_only=True``.
"""

import collections
import io
import os
import pickle

import numpy as np
import torch

from lzu.infra.errors import UserInputError

__all__ = ["UnsafePickleError", "TENSOR_GLOBALS", "DATA_GLOBALS", "restricted_load",
           "load_data_pickle"]


class UnsafePickleError(UserInputError, pickle.UnpicklingError):
    """A pickle asked for a global outside the allowlist."""


def _load_storage_from_bytes(data):
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


#: Globals a pickled CPU/CUDA tensor needs, mapped to what we hand back for them.
TENSOR_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


def _data_globals():
    """Globals plain data needs: numpy arrays, dtypes and scalars (under numpy 1's module
    names and numpy 2's ``numpy._core``), and the builtins of protocol 0-2 pickles."""
    core = np.core.multiarray
    found = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found[(module, "_reconstruct")] = core._reconstruct
        found[(module, "scalar")] = core.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):  # protocol 5 arrays
        found[(module, "_frombuffer")] = np.core.numeric._frombuffer
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 pickles dtypes through these classes
    for name in dir(dtypes) if dtypes is not None else ():
        if name.endswith("DType"):
            found[("numpy.dtypes", name)] = getattr(dtypes, name)
    for module in ("builtins", "__builtin__"):  # protocols 0-2 name sets and bytes by global
        found.update({(module, "set"): set, (module, "frozenset"): frozenset,
                      (module, "bytearray"): bytearray, (module, "complex"): complex})
    found[("_codecs", "encode")] = _latin1_encode
    found[("collections", "OrderedDict")] = collections.OrderedDict
    return found


def _latin1_encode(text, encoding="latin1"):
    """What protocol 0-2 pickles call to rebuild ``bytes``; only the text codecs they use."""
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode(encoding)


#: Globals plain data (dicts, lists, strings, numbers, numpy arrays/dtypes/scalars) needs.
DATA_GLOBALS = _data_globals()


class _AllowlistUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed, source):
        super().__init__(file)
        self._allowed = allowed
        self._source = source

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            kinds = ("plain data (dicts, lists, strings, numbers, numpy arrays)"
                     if self._allowed is DATA_GLOBALS else
                     f"only {sorted(f'{m}.{n}' for m, n in self._allowed)}")
            raise UnsafePickleError(
                f"{self._source}: refusing to unpickle global '{module}.{name}' "
                f"(allowed: {kinds}); loading it could run arbitrary code, so the file "
                "was not loaded"
            ) from None


def restricted_load(path, allowed=None):
    """Unpickle ``path`` resolving only the globals in ``allowed``.

    Args:
        path: file to read.
        allowed: ``{(module, name): object}``; defaults to ``TENSOR_GLOBALS``.

    Raises:
        UnsafePickleError: the pickle names a global outside ``allowed``.
    """
    allowed = TENSOR_GLOBALS if allowed is None else allowed
    with open(path, "rb") as f:
        return _AllowlistUnpickler(f, allowed, str(path)).load()


def load_data_pickle(file, source=None):
    """Unpickle plain data (``DATA_GLOBALS``) from a path or a binary file object.

    ``source`` names the file in errors (default: the path, or the file object's
    ``name``).

    Raises:
        UnsafePickleError: the pickle names any other global (nothing it asked for
            was called).
    """
    if isinstance(file, str | os.PathLike):
        with open(file, "rb") as f:
            return load_data_pickle(f, source or os.fspath(file))
    source = source or getattr(file, "name", None) or "a pickle"
    return _AllowlistUnpickler(file, DATA_GLOBALS, str(source)).load()
