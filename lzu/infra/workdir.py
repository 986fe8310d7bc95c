"""A work dir belongs to one run: lock, run fingerprint, stale temporaries, newest valid checkpoint.

* ``acquire_lock``: one training per work dir. An ``fcntl`` lock on
  ``<work_dir>/.lzu.lock`` (released by the kernel when the process dies, even by
  SIGKILL); a second run is refused with the holder's PID.
* ``check_run_fingerprint``: what defines the experiment (the model config, the
  saliency file's contents, the training pipeline) is recorded in
  ``<work_dir>/lzu_run.json``; a run that differs is refused once the work dir
  holds checkpoints, so it can neither resume nor overwrite them. Schedule length,
  workers and logging may change (extending a run is resuming it).
* ``remove_stale_tmp``: temporaries of atomic writes left by a kill.
* ``latest_valid_checkpoint``: the newest ``epoch_N``/``iter_N`` checkpoint that is
  a complete file; mmengine's ``last_checkpoint`` marker is not trusted.
"""

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import os.path as osp
import time
import zipfile

from lzu.infra.atomic_io import atomic_write_json
from lzu.infra.errors import UserInputError

__all__ = [
    "acquire_lock",
    "check_run_fingerprint",
    "file_sha256",
    "latest_valid_checkpoint",
    "remove_stale_tmp",
    "run_fingerprint",
]

LOCK_NAME = ".lzu.lock"
RECORD_NAME = "lzu_run.json"
_held = {}


def _ensure_writable(work_dir):
    try:
        os.makedirs(work_dir, exist_ok=True)
    except OSError as err:
        raise UserInputError(f"cannot create work dir '{work_dir}': {err.strerror}") from None
    if not os.access(work_dir, os.W_OK | os.X_OK):
        raise UserInputError(f"work dir '{work_dir}' is not writable")


def acquire_lock(work_dir):
    """Hold ``<work_dir>/.lzu.lock`` for the life of this process, or raise naming the holder."""
    work_dir = osp.abspath(work_dir)
    if work_dir in _held:
        return
    _ensure_writable(work_dir)
    path = osp.join(work_dir, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise UserInputError(
            f"work dir '{work_dir}' is in use by another run ({holder}); wait for it to "
            "finish, or give this run another --work-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"PID {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
    _held[work_dir] = fd


def remove_stale_tmp(work_dir):
    """Delete ``.<name>.<random>.tmp`` files of interrupted atomic writes; returns their paths."""
    stale = glob.glob(osp.join(work_dir, "**", ".*.tmp"), recursive=True)
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return stale


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _plain(obj):
    """Config objects -> plain JSON-able values (tuples become lists)."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return repr(obj)


def saliency_sha256(model_cfg):
    """sha256 of the model's saliency file, or None when it has none."""
    grid = (model_cfg or {}).get("grid_generator") or {}
    path = grid.get("saliency_file")
    if isinstance(path, str) and osp.isfile(path):
        return file_sha256(path)
    return None


def run_fingerprint(cfg, pipeline_key="train_dataloader"):
    """What defines an experiment: model config, saliency contents, the data pipeline."""
    loader = cfg.get(pipeline_key) or {}
    dataset = loader.get("dataset", {}) if hasattr(loader, "get") else {}
    return {
        "model": _plain(cfg.model),
        "saliency_sha256": saliency_sha256(cfg.model),
        "pipeline": _plain(dataset.get("pipeline")),
    }


def fingerprint_id(fingerprint):
    text = json.dumps(fingerprint, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _flat(obj, prefix=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def fingerprint_diff(before, after, limit=4):
    """Human-readable ``key: old -> new`` lines where two fingerprints differ."""
    a, b = _flat(before), _flat(after)
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    lines = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys[:limit]]
    if len(keys) > limit:
        lines.append(f"... and {len(keys) - limit} more")
    return lines


def _checkpoints(work_dir):
    found = []
    for path in glob.glob(osp.join(work_dir, "*_*.pth")):
        kind, _, number = osp.splitext(osp.basename(path))[0].partition("_")
        if kind in ("epoch", "iter") and number.isdigit():
            found.append((kind == "iter", int(number), path))
    return [p for *_, p in sorted(found, reverse=True)]


def check_run_fingerprint(work_dir, fingerprint):
    """Refuse a run that differs from the one whose checkpoints ``work_dir`` holds; record it."""
    record = osp.join(work_dir, RECORD_NAME)
    if osp.isfile(record) and _checkpoints(work_dir):
        with open(record, encoding="utf-8") as f:
            before = json.load(f).get("fingerprint")
        if before is not None and before != fingerprint:
            diff = "\n  ".join(fingerprint_diff(before, fingerprint))
            raise UserInputError(
                f"work dir '{work_dir}' holds checkpoints of a run configured differently:\n  "
                f"{diff}\nthis run would resume from or overwrite them; give it another "
                "--work-dir (or delete the old one)"
            )
    atomic_write_json(record, {"fingerprint": fingerprint, "id": fingerprint_id(fingerprint)})


def latest_valid_checkpoint(work_dir):
    """``(path, skipped)``: the newest complete checkpoint and the newer incomplete ones."""
    skipped = []
    for path in _checkpoints(work_dir):
        if zipfile.is_zipfile(path):
            return path, skipped
        skipped.append(path)
    return None, skipped
