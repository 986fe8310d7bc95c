"""Unpickling that cannot run code: an allowlist of globals, nothing else.

A pickle may name any importable callable and call it while loading, so
unpickling a file from the internet can run arbitrary code. ``restricted_load``
resolves only the globals in an explicit allowlist and refuses anything else
with an error naming the file and the global it asked for.

Two allowlists: ``TENSOR_GLOBALS`` (a pickled torch tensor: saliency files) and
``DATA_GLOBALS`` (plain data: dicts, lists, tuples, sets, strings, bytes, numbers,
numpy arrays, dtypes and scalars; mmdet3d's info files hold nothing else). Plain data
is also memory-safe: numpy objects are rebuilt by checked constructors (a dtype from its
type code, never from its pickled state, which could place record fields anywhere in
memory; an array only from as many bytes as it needs), no constructor allocates more
than the file carries, and the loaded structure is bounded in depth and in size.
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
import re

import numpy as np
import torch

from lzu.infra.errors import UserInputError

__all__ = ["UnsafePickleError", "CorruptPickleError", "TENSOR_GLOBALS", "DATA_GLOBALS",
           "restricted_load", "load_data_pickle"]


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


class CorruptPickleError(UserInputError, pickle.UnpicklingError):
    """A data pickle is truncated, malformed or needs more memory or nesting than it may.

    ``reason`` is the message without the file's name."""

    def __init__(self, source, reason):
        super().__init__(f"'{source}' is corrupt or not a data pickle: {reason}")
        self.reason = reason


#: numpy dtypes a data pickle may hold, as numpy writes them in a pickle: bool, integers,
#: floats, complex, fixed-size unicode and byte strings. No record, object, void or datetime.
_DTYPE_SPEC = re.compile(r"b1|[iu][1248]|f[248]|c(8|16)|[US][0-9]{1,10}")
#: How deeply containers may nest (mmdet3d's infos nest about 6 levels).
MAX_DEPTH = 100
#: Elements (counting shared ones once per reference) per byte of file: a few bytes of
#: memo references must not expand into more than the file could have held.
_ELEMENTS_PER_BYTE = 4


class _Refused(Exception):
    """Raised inside the unpickler; ``load_data_pickle`` turns it into ``UnsafePickleError``."""


def _shape_size(shape):
    if (not isinstance(shape, tuple) or len(shape) > 32
            or not all(type(n) is int and n >= 0 for n in shape)):
        raise _Refused(f"an array shape {shape!r:.80} is not a tuple of sizes")
    size = 1
    for n in shape:
        size *= n
    return size


class _DType:
    """A numpy dtype being unpickled: built from its spec and checked state, never from the
    state itself (a dtype's pickled state can place record fields anywhere in memory)."""

    __slots__ = ("spec", "dtype")
    __hash__ = None

    def __init__(self, spec, align=False, copy=True):
        if not (isinstance(spec, str) and _DTYPE_SPEC.fullmatch(spec)) or align is not False:
            raise _Refused(f"a numpy dtype {spec!r:.40} (only bool, integer, float, complex "
                           "and fixed-size string dtypes are data)")
        self.spec, self.dtype = spec, None

    def __setstate__(self, state):
        order = state[1] if isinstance(state, tuple) and len(state) > 1 else None
        if self.dtype is not None or order not in ("<", ">", "|"):
            raise _Refused(f"the state of numpy dtype '{self.spec}' is not a plain dtype's")
        dtype = np.dtype(self.spec)
        if order != "|":
            dtype = dtype.newbyteorder(order)
        if dtype.__reduce__()[1:] != ((self.spec, False, True), state):
            raise _Refused(f"the state of numpy dtype '{self.spec}' is not a plain dtype's "
                           "(record fields, sub-arrays or metadata)")
        self.dtype = dtype


def _dtype_of(dtype):
    if not isinstance(dtype, _DType) or dtype.dtype is None:
        raise _Refused("a numpy array or scalar without a complete plain dtype")
    return dtype.dtype


class _NdarrayType:
    """Stands for ``numpy.ndarray`` in a pickle: only ``_reconstruct`` may use it."""

    __hash__ = None


class _Array:
    """A numpy array being unpickled (protocols 0-4: ``_reconstruct`` then its state)."""

    __slots__ = ("array",)
    __hash__ = None

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Refused("the state of a numpy array is malformed")
        if len(state) == 5 and state[0] != 1:
            raise _Refused(f"a numpy array state of version {state[0]!r:.20}")
        shape, dtype, fortran, data = state[-4:]
        dtype = _dtype_of(dtype)
        if type(fortran) not in (bool, int) or type(data) is not bytes:
            raise _Refused("a numpy array whose data is not bytes (an object array?)")
        if len(data) != _shape_size(shape) * dtype.itemsize:
            raise _Refused(f"a numpy array of shape {shape} and dtype {dtype} with "
                           f"{len(data)} bytes of data")
        array = _numpy_reconstruct(np.ndarray, (0,), b"b")
        array.__setstate__((1, shape, dtype, bool(fortran), data))
        self.array = array


_numpy_reconstruct = np.core.multiarray._reconstruct


def _reconstruct(subtype, shape, typecode):
    if not isinstance(subtype, _NdarrayType) or shape != (0,) or typecode != b"b":
        raise _Refused("a numpy array reconstructed other than numpy writes it")
    return _Array()


def _frombuffer(buffer, dtype, shape, order):
    dtype = _dtype_of(dtype)
    if type(buffer) not in (bytes, bytearray) or order not in ("C", "F"):
        raise _Refused("a numpy array whose buffer is not bytes")
    if len(buffer) != _shape_size(shape) * dtype.itemsize:
        raise _Refused(f"a numpy array of shape {shape} and dtype {dtype} with "
                       f"{len(buffer)} bytes of data")
    return np.core.numeric._frombuffer(buffer, dtype, shape, order)


def _scalar(dtype, data):
    dtype = _dtype_of(dtype)
    if type(data) is not bytes or len(data) != dtype.itemsize:
        raise _Refused(f"a numpy {dtype} scalar whose data is not {dtype.itemsize} bytes")
    return np.core.multiarray.scalar(dtype, data)


def _from_bytes(kind):
    """``bytes``/``bytearray`` from bytes or text only: ``bytearray(n)`` would allocate n bytes."""

    def build(data=b"", encoding=None):
        if isinstance(data, str):
            return kind(_latin1_encode(data, encoding or "latin1"))
        if type(data) is not bytes or encoding is not None:
            raise _Refused(f"{kind.__name__} built from something other than bytes or text")
        return kind(data)

    return build


def _latin1_encode(text, encoding="latin1"):
    """What protocol 0-2 pickles call to rebuild ``bytes``; only the text codecs they use."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8",
                                                     "ascii"):
        raise _Refused(f"_codecs.encode of {type(text).__name__} with encoding {encoding!r:.20}")
    return text.encode(encoding)


def _data_globals():
    """Globals plain data needs: numpy arrays, dtypes and scalars (under numpy 1's module
    names and numpy 2's ``numpy._core``), and the builtins of protocol 0-2 pickles. numpy's
    own constructors are replaced by checked ones (``_DType``, ``_reconstruct``, ...)."""
    found = {("numpy", "ndarray"): _NdarrayType(), ("numpy", "dtype"): _DType}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found[(module, "_reconstruct")] = _reconstruct
        found[(module, "scalar")] = _scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):  # protocol 5 arrays
        found[(module, "_frombuffer")] = _frombuffer
    for module in ("builtins", "__builtin__"):  # protocols 0-2 name sets and bytes by global
        found.update({(module, "set"): set, (module, "frozenset"): frozenset,
                      (module, "bytes"): _from_bytes(bytes),
                      (module, "bytearray"): _from_bytes(bytearray), (module, "complex"): complex})
    found[("_codecs", "encode")] = _latin1_encode
    found[("collections", "OrderedDict")] = collections.OrderedDict
    return found


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


_LEAVES = frozenset((str, bytes, bytearray, int, float, complex, bool, type(None), np.ndarray,
                     np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                     np.uint32, np.uint64, np.float16, np.float32, np.float64, np.complex64,
                     np.complex128, np.str_, np.bytes_)
                    + tuple({type(np.dtype(c)) for c in "?bhilqBHILQefdFDUS"}))
_CONTAINERS = frozenset((dict, collections.OrderedDict, list, tuple, set, frozenset))


class _Walk:
    """Put the finished arrays and dtypes in place of their placeholders, and refuse any
    other object, nesting deeper than ``MAX_DEPTH`` and more than ``limit`` elements.

    A container referenced twice (a pickle's memo) is walked, and counted, twice: a few
    bytes of references cannot stand for more data than the file could hold, and a
    container that contains itself is refused.
    """

    def __init__(self, limit):
        self.limit, self.count = limit, 0

    def value(self, obj, depth):
        kind = type(obj)
        if kind in _LEAVES:
            return obj
        if kind is _DType:
            return _dtype_of(obj)
        if kind is _Array:
            if obj.array is None:
                raise _Refused("a numpy array without its state")
            return obj.array
        if kind not in _CONTAINERS:
            raise _Refused(f"an object of type {kind.__name__} (not plain data)")
        if depth >= MAX_DEPTH:
            raise _Refused(f"containers nested more than {MAX_DEPTH} deep (or one that "
                           "contains itself)")
        self.count += len(obj) + 1
        if self.count > self.limit:
            raise _Refused(f"more than {self.limit} elements: containers repeated by "
                           "reference beyond what the file holds")
        return self.container(obj, kind, depth + 1)

    def container(self, obj, kind, depth):
        if kind is dict or kind is collections.OrderedDict:
            if not _LEAVES.issuperset(map(type, obj)):  # keys: placeholders are unhashable
                for key in obj:
                    self.value(key, depth)
            if not _LEAVES.issuperset(map(type, obj.values())):
                for key, item in obj.items():
                    new = self.value(item, depth)
                    if new is not item:
                        obj[key] = new
        elif _LEAVES.issuperset(map(type, obj)):  # the common case: numbers, strings
            pass
        elif kind is list:
            for i, item in enumerate(obj):
                new = self.value(item, depth)
                if new is not item:
                    obj[i] = new
        elif kind is tuple:
            items = [self.value(item, depth) for item in obj]
            if any(new is not old for new, old in zip(items, obj, strict=True)):
                return tuple(items)
        else:  # a set: placeholders are unhashable, so only plain values (and tuples) here
            for item in obj:
                self.value(item, depth)
        return obj


def load_data_pickle(file, source=None):
    """Unpickle plain data (``DATA_GLOBALS``) from a path or a binary file object.

    Plain data: dicts, lists, tuples, sets, strings, bytes, numbers, and numpy arrays,
    dtypes and scalars of bool, integer, float, complex and fixed-size string dtypes. numpy
    objects are built by checked constructors: a dtype from its type code (its pickled state
    must be exactly a plain dtype's), an array only from as many bytes as its shape and dtype
    need. ``source`` names the file in errors (default: the path, or the file object's
    ``name``).

    Raises:
        UnsafePickleError: the pickle names any other global (nothing it asked for was
            called), holds anything but plain data, or shared containers that would repeat
            into more elements than the file could hold.
        CorruptPickleError: the file is truncated or malformed (one line; it may name
            ``MemoryError`` when a malformed length asked for more memory than there is).
    """
    if isinstance(file, str | os.PathLike):
        with open(file, "rb") as f:
            return load_data_pickle(f, source or os.fspath(file))
    source = str(source or getattr(file, "name", None) or "a pickle")
    try:
        data = file.read()
        unpickler = _AllowlistUnpickler(io.BytesIO(data), DATA_GLOBALS, source)
        return _Walk(_ELEMENTS_PER_BYTE * len(data) + 1_000_000).value(unpickler.load(), 0)
    except UnsafePickleError:
        raise
    except _Refused as err:
        raise UnsafePickleError(f"{source}: refusing to unpickle {err}; the file was not "
                                "loaded") from None
    except (pickle.UnpicklingError, EOFError, MemoryError, RecursionError, ValueError,
            TypeError, OverflowError, AttributeError, KeyError, IndexError,
            UnicodeError) as err:
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        raise CorruptPickleError(source, reason[:300]) from None
