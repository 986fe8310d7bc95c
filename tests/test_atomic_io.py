"""Atomic writes: a kill or a full disk never leaves a half-written file, and what is written
is readable like any file (the umask)."""

import errno
import json
import os
import os.path as osp
import stat

import pytest
from conftest import run_tool
from helpers import assert_clean_error

import lzu.openmmlab  # noqa: F401  (installs the atomic file backend)


def test_atomic_backend_never_leaves_a_truncated_checkpoint(tmp_path, monkeypatch):
    from mmengine.fileio import get_file_backend

    target = tmp_path / "epoch_3.pth"
    target.write_bytes(b"old complete checkpoint")
    backend = get_file_backend(str(target))
    assert type(backend).__name__ == "AtomicLocalBackend"

    def crash(fd):
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b"new half-written data" * 1000, str(target))
    assert target.read_bytes() == b"old complete checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["epoch_3.pth"]
    monkeypatch.undo()
    backend.put(b"new", str(target))
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mode):
    from lzu.infra.atomic_io import atomic_write_json

    old = os.umask(umask)
    try:
        atomic_write_json(str(tmp_path / "m.json"), {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode) == mode


def test_disk_full_leaves_nothing_half_written(tmp_path, monkeypatch):
    from lzu.infra.atomic_io import DiskFullError, atomic_write_json

    path = tmp_path / "metrics.json"
    atomic_write_json(str(path), {"old": 1})

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError, match="no space left on the device writing"):
        atomic_write_json(str(path), {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_disk_full_in_a_tool_is_one_line(tmp_path, small_cityscapes):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import errno, os\n"
        "def _full(fd):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "os.fsync = _full\n")
    out = tmp_path / "s.pkl"
    result = run_tool(["tools/make_saliency.py", "--seg-labels",
                       osp.join(small_cityscapes, "gtFine", "train"), "--out", str(out)],
                      env={"PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert_clean_error(result, "no space left on the device", str(out))
    assert sorted(os.listdir(tmp_path)) == ["site"]
