"""A work dir belongs to one run: lock, run fingerprint, stale temporaries, newest valid checkpoint.

* ``acquire_lock``: one training per work dir. An ``fcntl`` lock on
  ``<work_dir>/.lzu.lock`` (released by the kernel when the process dies, even by
  SIGKILL); a second run is refused with the holder's PID. The locked work dir is a held
  root of ``lzu.infra.atomic_io`` (``hold_root``): for the rest of the process no write below
  it follows a link, even one planted while the run goes on.
* ``locked``: the same kind of lock on any file (a metrics file, a saliency being built),
  waiting for the holder instead of refusing.
* ``refuse_symlinks``: the tools (and mmengine: ``last_checkpoint``, the config dump) write
  and delete files in their work dir by name; a symbolic link planted there would send
  those writes outside it, so a work dir holding one is refused, naming it, before anything
  is written (links planted later are refused by the writes themselves).
* ``check_run_fingerprint``: what defines the experiment, a dict of plain JSON values
  that the caller reads out of its config (``lzu.apis.fingerprint.run_fingerprint``:
  the model config, the saliency file's contents, the training data and pipeline, the
  optimizer, the LR schedule and the seed), is recorded in ``<work_dir>/lzu_run.json``;
  a run that differs is refused once the work dir holds checkpoints, so it can neither
  resume nor overwrite them (mmengine would resume the old optimizer and schedule state
  while the dumped config claimed the new values). What the caller leaves out (the
  number of iterations or epochs, workers, logging) may change: extending a run is
  resuming it. Without a record (deleted, or checkpoints copied in) the caller's reader
  of a checkpoint's own fingerprint speaks for the newest checkpoint.
* ``read_run_record``: the recorded fingerprint; a record that is not one is refused,
  naming it, never ignored.
* ``remove_stale_tmp``: temporaries of atomic writes left by a kill (never following
  a directory symlink).
* ``latest_valid_checkpoint``: the newest ``epoch_N``/``iter_N`` checkpoint that is
  a complete file; mmengine's ``last_checkpoint`` marker is not trusted.
"""

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import os.path as osp
import stat
import sys
import time
import zipfile

from lzu.infra.atomic_io import atomic_write_json, hold_root
from lzu.infra.errors import UserInputError
from lzu.infra.records import read_json_record, record_error

__all__ = [
    "acquire_lock",
    "check_run_fingerprint",
    "file_sha256",
    "fingerprint_diff",
    "fingerprint_id",
    "fingerprint_mismatch",
    "latest_valid_checkpoint",
    "locked",
    "read_run_record",
    "refuse_symlinks",
    "remove_stale_tmp",
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


def _open_lock_file(path):
    """Open (create) a lock file, never through a symbolic link."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UserInputError(
                f"lock file '{path}' is a symbolic link (to '{os.readlink(path)}'); the lock "
                "is written, so it must be a plain file: remove the link") from None
        raise UserInputError(f"cannot open lock file '{path}': {err.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserInputError(f"lock file '{path}' is not a plain file: remove it")
    return fd


def _stamp(fd):
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"PID {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)


def acquire_lock(work_dir):
    """Hold ``<work_dir>/.lzu.lock`` for the life of this process, or raise naming the holder."""
    work_dir = osp.abspath(work_dir)
    if work_dir in _held:
        return
    _ensure_writable(work_dir)
    path = osp.join(work_dir, LOCK_NAME)
    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise UserInputError(
            f"work dir '{work_dir}' is in use by another run ({holder}); wait for it to "
            "finish, or give this run another --work-dir"
        ) from None
    _stamp(fd)
    _held[work_dir] = fd
    hold_root(work_dir)


@contextlib.contextmanager
def locked(path, what):
    """Hold an exclusive lock on ``path`` (created; never through a symlink) for the block.

    If another process holds it, say so on stderr (``what`` names the resource) and wait.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fd = _open_lock_file(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            print(f"waiting for {what}: another process holds '{path}' ({holder})",
                  file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        _stamp(fd)
        yield
    finally:
        os.close(fd)


def refuse_symlinks(work_dir):
    """Raise ``UserInputError`` naming the first symbolic link found below ``work_dir``.

    The work dir itself may be a link (e.g. to a scratch disk); links *inside* it are not
    followed by the walk, and refused.
    """
    if not osp.isdir(work_dir):
        return
    for top, dirs, files in os.walk(work_dir, followlinks=False):
        for name in sorted(dirs + files):
            path = osp.join(top, name)
            if osp.islink(path):
                raise UserInputError(
                    f"work dir '{work_dir}' holds a symbolic link '{path}' -> "
                    f"'{os.readlink(path)}'; the tools and mmengine write and delete files in "
                    "their work dir by name and would follow it out of the work dir: remove "
                    "the link, or use another --work-dir")


def remove_stale_tmp(work_dir):
    """Delete ``.<name>.<random>.tmp`` files of interrupted atomic writes; returns their paths.

    Only plain files are removed, and the search never follows a symbolic link.
    """
    stale = []
    for top, _, files in os.walk(work_dir, followlinks=False):
        for name in files:
            path = osp.join(top, name)
            if not (name.startswith(".") and name.endswith(".tmp")):
                continue
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISREG(os.lstat(path).st_mode):
                    os.unlink(path)
                    stale.append(path)
    return sorted(stale)


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_id(fingerprint):
    """A short id of a fingerprint (sha256 of its sorted JSON, 8 hex digits)."""
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


def read_run_record(work_dir):
    """The fingerprint recorded in ``<work_dir>/lzu_run.json``, or None when there is no record.

    A record that cannot be read, is not JSON, or holds no ``fingerprint`` dict raises
    ``UserInputError`` naming it: it is what tells whose checkpoints the work dir holds.
    """
    record = osp.join(work_dir, RECORD_NAME)
    if not osp.lexists(record):
        return None
    fix = ("delete it (the run is then checked against the newest checkpoint's own record), "
           "or use another --work-dir")
    fingerprint = read_json_record(record, "run record", fix, {"fingerprint": dict})["fingerprint"]
    if not fingerprint:
        raise record_error(record, "run record", "has an empty 'fingerprint'", fix)
    return fingerprint


def fingerprint_mismatch(before, now):
    """``fingerprint_diff`` lines over the keys both fingerprints hold (either may come from
    an older version, which recorded fewer); empty when they agree. Fingerprints without a
    key in common differ in all of them."""
    common = set(before) & set(now)
    if common:
        before = {k: v for k, v in before.items() if k in common}
        now = {k: v for k, v in now.items() if k in common}
    return fingerprint_diff(before, now) if before != now else []


def check_run_fingerprint(work_dir, fingerprint, read_checkpoint=None):
    """Refuse a run that differs from the one whose checkpoints ``work_dir`` holds; record it.

    The run that wrote them is the one in ``lzu_run.json``; when there is no record (deleted,
    or checkpoints copied in) and the caller passes ``read_checkpoint(path)`` (the fingerprint
    a checkpoint records, or None to let it pass), it is the newest complete checkpoint's.
    """
    checkpoints = _checkpoints(work_dir)
    if checkpoints:
        before, source = read_run_record(work_dir), f"its record {RECORD_NAME}"
        newest = latest_valid_checkpoint(work_dir)[0] if before is None else None
        if newest is not None and read_checkpoint is not None:
            before = read_checkpoint(newest)
            source = f"no {RECORD_NAME}; the newest checkpoint '{osp.basename(newest)}' says so"
        diff = fingerprint_mismatch(before, fingerprint) if before is not None else []
        if diff:
            raise UserInputError(
                f"work dir '{work_dir}' holds checkpoints of a run configured differently "
                f"({source}): {'; '.join(diff)}. This run would resume from or overwrite them: "
                "give it another --work-dir (it can start from their weights with "
                "--cfg-options load_from=<checkpoint>), or delete the old one"
            )
    atomic_write_json(osp.join(work_dir, RECORD_NAME),
                      {"fingerprint": fingerprint, "id": fingerprint_id(fingerprint)})


def latest_valid_checkpoint(work_dir):
    """``(path, skipped)``: the newest complete checkpoint and the newer incomplete ones."""
    skipped = []
    for path in _checkpoints(work_dir):
        if zipfile.is_zipfile(path):
            return path, skipped
        skipped.append(path)
    return None, skipped
