"""Unpickling that cannot run code: an allowlist of globals, nothing else.

A pickle may name any importable callable and call it while loading, so
unpickling a file from the internet can run arbitrary code. ``restricted_load``
resolves only the globals in an explicit allowlist and refuses anything else
with an error naming the file and the global it asked for.

A torch tensor pickled with the plain ``pickle`` module (the format of the
paper's ``saliency.pkl``) references ``torch.storage._load_from_bytes``, which
calls ``torch.load`` with the weights-only guard off. We substitute a version that
loads the embedded storage with ``weights_only=True``.
"""

import collections
import io
import pickle

import torch

from lzu.infra.errors import UserInputError

__all__ = ["UnsafePickleError", "TENSOR_GLOBALS", "restricted_load"]


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


class _AllowlistUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed, source):
        super().__init__(file)
        self._allowed = allowed
        self._source = source

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._source}: refusing to unpickle global '{module}.{name}'; "
                f"only {sorted(f'{m}.{n}' for m, n in self._allowed)} are allowed. "
                "Loading it could run arbitrary code."
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
