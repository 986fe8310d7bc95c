"""The plain-data unpickler is memory-safe: crafted info files end in one line naming the file.

Every crafted pickle is written here, by ``pickle`` from stand-in objects whose
``__reduce__`` returns what an attacker would write (numpy's own globals with a chosen
state), so no binary is committed. A structured dtype whose field lies outside its
buffer, a file that would allocate gigabytes, an object array, shared references that
repeat into more data than the file holds, and wrong structures (``data_list`` a dict,
``images`` a list, a set of lists) are refused before anything reads or allocates; the
infos that ``lzu.data.data_prep.create_mono3d_infos`` writes, numpy arrays and saliency
tensors load exactly as plain ``pickle`` loads them.
"""

import os
import pickle
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import ROOT, run_tool
from helpers import BASELINE

from lzu.data.infos import InfoFileError, load_infos
from lzu.infra.safe_pickle import (
    CorruptPickleError,
    UnsafePickleError,
    load_data_pickle,
    restricted_load,
)

GIB = 1 << 30


class Reduce:
    """Pickles as ``callable(*args)`` followed, with a state, by BUILD."""

    def __init__(self, *reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


def record_dtype(offset):
    """An 8-byte record dtype whose one float64 field lies ``offset`` bytes into the record."""
    return Reduce(np.dtype, ("V8", False, True),
                  (3, "|", None, ("x",), {"x": (np.dtype("<f8"), offset)}, 8, 1, 16))


def forged_float_dtype(state):
    """``float64`` as numpy pickles it, with another state."""
    return Reduce(np.dtype, ("f8", False, True), state)


def raw_array(shape, dtype, data):
    """An array as numpy pickles it in protocols 0-4: ``_reconstruct``, then its state."""
    return Reduce(np.core.multiarray._reconstruct, (np.ndarray, (0,), b"b"),
                  (1, shape, dtype, False, data))


def infos_with(cam2img=None, **info):
    info = {"token": "t", "images": {"CAM_FRONT": {"img_path": "a.jpg", "cam2img": cam2img}},
            **info}
    return {"metainfo": {"version": "v1.0-mini"}, "data_list": [info]}


def write(path, obj, protocol=2):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return str(path)


def nested(depth):
    """``depth`` lists, each holding 64 references to the next: 64**depth elements."""
    inner = [0.0]
    for _ in range(depth):
        inner = [inner] * 64
    return inner


CRAFTED = {
    "record dtype, field past its buffer": infos_with(raw_array((3, 3), record_dtype(10**8),
                                                                bytes(72))),
    "record dtype, field just past its buffer": infos_with(raw_array((3, 3), record_dtype(16),
                                                                     bytes(72))),
    "float dtype with a record's state": infos_with(raw_array(
        (3, 3), forged_float_dtype((3, "<", None, ("x",), {"x": (np.dtype("<f8"), 10**8)},
                                    8, 1, 16)), bytes(72))),
    "object array": infos_with(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, "x"]], dtype=object)),
    "object scalar": infos_with(Reduce(np.core.multiarray.scalar, (np.dtype("O"), 1.0))),
    "array with more elements than data": infos_with(raw_array((3, 10**9), np.dtype("<f8"),
                                                               bytes(72))),
    "set of lists": infos_with(np.eye(3), tags=Reduce(set, ([[1], [2]],))),
    "shared lists repeated into 64**5 elements": infos_with(nested(5)),
}


def deep_list_pickle(path, depth):
    """``{'metainfo': {}, 'data_list': [{'deep': [[...[0]...]]}]}``, lists ``depth`` deep,
    in raw opcodes (``pickle.dump`` itself would recurse that deep)."""

    def text(s):
        return b"X" + len(s).to_bytes(4, "little") + s.encode()

    deep = b"(" * depth + b"K\x00" + b"l" * depth  # MARK ... BININT1 0, then LIST ...
    blob = (b"\x80\x02}(" + text("metainfo") + b"}" + text("data_list") + b"](}("
            + text("deep") + deep + b"ueu.")
    with open(path, "wb") as f:
        f.write(blob)
    return str(path)


# ------------------------------------------------ crafted files, through the user's tool


@pytest.fixture()
def nusc(synthetic_root, tmp_path):
    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root)
    return root


def assert_one_line_naming(result, path, *fragments):
    """A clean exit (not a signal), no stack trace, and a last line naming ``path``."""
    out = result.stdout + result.stderr
    assert result.returncode > 0, (result.returncode, out[-2000:])
    assert "Traceback" not in out, out[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert str(path) in last, out[-2000:]
    for fragment in fragments:
        assert fragment in last, out[-2000:]


@pytest.mark.parametrize("case, fragment", [
    ("record dtype, field past its buffer", "refusing to unpickle a numpy dtype 'V8'"),
    ("data_list a dict", "'data_list' must be a list"),
    ("images a list", "data_list[0]['images'] must be a dict"),
    ("set of lists", "unhashable"),
])
def test_crafted_info_file_stops_the_train_tool_with_one_line(nusc, case, fragment):
    """A 300-byte info file killed the data check with SIGSEGV; others gave tracebacks."""
    crafted = dict(CRAFTED, **{
        "data_list a dict": {"metainfo": {}, "data_list": {"token": {"images": {}}}},
        "images a list": {"metainfo": {}, "data_list": [{"token": "t", "images": [np.eye(3)]}]},
    })
    path = write(nusc / "nuscenes_infos_train.pkl", crafted[case])
    result = run_tool(["tools/train.py", BASELINE, "--data-root", str(nusc), "--work-dir",
                       str(nusc / "wd")])
    assert_one_line_naming(result, path, fragment)


# ------------------------------------------------ crafted files, through the loaders


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_info_file_is_refused_naming_the_file(tmp_path, case):
    path = write(tmp_path / "nuscenes_infos_train.pkl", CRAFTED[case])
    with pytest.raises((UnsafePickleError, CorruptPickleError), match=path):
        load_data_pickle(path)
    with pytest.raises(InfoFileError, match=path) as err:
        load_infos(path)
    assert "\n" not in str(err.value)


def test_deep_nesting_is_refused_in_one_line(tmp_path):
    path = deep_list_pickle(tmp_path / "nuscenes_infos_train.pkl", 10000)
    with pytest.raises(InfoFileError, match=f"{path}.*nested more than") as err:
        load_infos(path)
    assert "\n" not in str(err.value)


def test_a_forged_dtype_state_never_reaches_numpy(tmp_path):
    """A small field offset read process memory into the refusal message
    (``cam2img is singular: [[6.9e-310, ...]]``): now the dtype itself is refused."""
    path = write(tmp_path / "infos.pkl", CRAFTED["record dtype, field just past its buffer"])
    with pytest.raises(InfoFileError, match="refusing to unpickle a numpy dtype 'V8'") as err:
        load_infos(path)
    assert "singular" not in str(err.value)


@pytest.mark.parametrize("payload", [
    "bytearray", "array shape", "frombuffer",
])
def test_a_small_file_allocates_nothing_big(tmp_path, payload):
    """A few hundred bytes asked for gigabytes before failing: run with the address space
    limited to what the process has plus 2 GiB, so an allocation would raise MemoryError,
    and check that the refusal names the payload (it came before any allocation)."""
    big = 64 * GIB
    obj = {
        "bytearray": Reduce(bytearray, (big,)),
        "array shape": Reduce(np.core.multiarray._reconstruct, (np.ndarray, (big,), b"b")),
        "frombuffer": Reduce(np.core.numeric._frombuffer,
                             (bytearray(8), np.dtype("<f8"), (big,), "C")),
    }[payload]
    path = write(tmp_path / "nuscenes_infos_train.pkl", infos_with(np.eye(3), x=obj))
    assert os.path.getsize(path) < 1000
    script = textwrap.dedent(f"""
        import resource, sys
        from lzu.data.infos import load_infos
        from lzu.infra.errors import UserInputError
        pages = int(open("/proc/self/statm").read().split()[0])
        limit = pages * resource.getpagesize() + 2 * {GIB}
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            load_infos({path!r})
        except UserInputError as err:
            sys.exit(str(err))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert_one_line_naming(result, path, "refusing to unpickle")
    assert "MemoryError" not in result.stderr


def test_a_truncated_length_is_a_one_line_error(tmp_path):
    """BINBYTES8 announcing 2**62 bytes in a 20-byte file."""
    path = tmp_path / "nuscenes_infos_train.pkl"
    path.write_bytes(b"\x80\x04\x8e" + (1 << 62).to_bytes(8, "little") + b"abc.")
    with pytest.raises(InfoFileError, match=f"'{path}' is corrupt or not a pickle") as err:
        load_infos(str(path))
    assert "\n" not in str(err.value)


# ------------------------------------------------ valid files load as before


def deep_equal(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            deep_equal(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            deep_equal(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.dtype.str == b.dtype.str and a.shape == b.shape
        assert a.flags.f_contiguous == b.flags.f_contiguous and a.tobytes() == b.tobytes()
    elif isinstance(a, np.generic):
        assert a.dtype.str == b.dtype.str and a.tobytes() == b.tobytes()
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


def test_converter_infos_load_exactly_as_plain_pickle(synthetic_root):
    """The v2 infos mmdet3d's converters write (through ``create_mono3d_infos``)."""
    for split in ("train", "val"):
        path = os.path.join(synthetic_root, f"nuscenes_infos_{split}.pkl")
        with open(path, "rb") as f:
            expected = pickle.load(f)
        loaded = load_data_pickle(path)
        deep_equal(loaded, expected)
        assert pickle.dumps(loaded, protocol=4) == pickle.dumps(expected, protocol=4)
        deep_equal(load_infos(path), expected["data_list"])


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_numpy_data_loads_bit_identically(tmp_path, protocol):
    rng = np.random.default_rng(0)
    data = {
        "f32": rng.standard_normal((4, 3)).astype(np.float32),
        "f64": rng.standard_normal(5), "i64": np.arange(-3, 3, dtype=np.int64),
        "fortran": np.asfortranarray(rng.standard_normal((3, 2))),
        "big_endian": np.arange(4, dtype=">i4"), "u8": np.arange(5, dtype=np.uint8),
        "f16": np.ones(2, np.float16), "c128": np.array([1 + 2j]), "bool": np.array([True]),
        "empty": np.zeros((0, 3), np.float32), "str": np.array(["car", "pedestrian"]),
        "bytes": np.array([b"ab"]), "nan": np.array([np.nan]), "view": np.arange(10.0)[::3],
        "scalars": [np.float32(0.5), np.int64(7), np.bool_(False), np.str_("x")],
        "dtypes": (np.dtype("float32"), np.dtype(">f8"), np.dtype("U5")),
        "shared": [np.eye(2)] * 2, "plain": {"a": (1, 2.5, "s", b"b", None, {3}, 1j)},
    }
    path = write(tmp_path / "x.pkl", data, protocol=protocol)
    with open(path, "rb") as f:
        expected = pickle.load(f)
    loaded = load_data_pickle(path)
    deep_equal(loaded, expected)
    assert loaded["shared"][0] is loaded["shared"][1]


def test_saliency_tensors_load_unchanged(tmp_path):
    tensor = torch.rand(1, 1, 31, 51)
    path = write(tmp_path / "saliency.pkl", tensor, protocol=pickle.DEFAULT_PROTOCOL)
    assert torch.equal(restricted_load(path), tensor)
