"""Atomic file writes: a reader never sees a half-written file.

Data goes to a temporary file in the destination folder, is flushed and
fsync'd, then ``os.replace``d over the destination (atomic on POSIX). The file
gets the permissions a plain ``open()`` would give it (``0o666`` minus the
umask), not ``mkstemp``'s private 0600, so results stay readable on shared machines.

A full disk (``ENOSPC``, or a quota: ``EDQUOT``) raises ``DiskFullError``, one message
naming the file; the temporary is removed and the destination is left as it was (absent,
or the previous complete file), so nothing half-written can be reused.

No write follows a symbolic link planted in a folder a run writes:

* ``hold_root(folder)`` declares a folder this process writes (a locked work dir, a tool's
  output or scratch folder). The folder itself may be a link (e.g. to a scratch disk);
  no directory *below* it may be: every write under it walks down from it with
  ``O_NOFOLLOW | O_DIRECTORY`` (``openat``), so a link planted among its subfolders, even
  while the run goes on, is refused (``LinkError``: one line naming the link and its target),
  never followed. Missing subfolders are created on the way, the same way. A folder held
  below one already held (a data set made inside a benchmark's work dir) is covered by the
  outer one, and is refused if it is a link itself.
* ``atomic_open`` creates its temporary in that directory with ``O_EXCL | O_NOFOLLOW`` and
  renames it over the name: a link at the destination name is replaced, its target untouched.
* ``open_nofollow`` is for files written in place (logs, appended records): the last
  component is opened with ``O_NOFOLLOW``; a link there is refused, as is anything but a
  plain file (a FIFO, a device). ``write_open`` is a drop-in ``open()`` that reads as
  ``open()`` does and writes through ``open_nofollow`` (for code that is not ours and calls
  ``open``).
* ``check_not_link(path)`` refuses a folder that is a link before it is deleted or
  written into (``LinkError``), naming the target.
"""

import builtins
import contextlib
import errno
import fcntl
import json
import os
import secrets
import stat

from lzu.infra.errors import UserInputError

__all__ = ["DiskFullError", "LinkError", "atomic_open", "atomic_savefig", "atomic_write_json",
           "atomic_write_bytes", "check_not_link", "default_file_mode",
           "hold_root", "is_disk_full", "open_nofollow", "write_open"]

#: errno values meaning "no room to write"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(UserInputError, OSError):
    """No space left (or quota exceeded) while writing a file; nothing was left half-written."""

    def __init__(self, message, code=errno.ENOSPC):
        OSError.__init__(self, code, message)

    def __str__(self):
        return self.strerror


def is_disk_full(err):
    return isinstance(err, OSError) and err.errno in DISK_FULL


def disk_full_message(path, err):
    return (f"no space left on the device writing '{path}' ({err.strerror}); nothing was "
            "written there (a previous file is unchanged): free some space and rerun")


def default_file_mode():
    """``0o666`` minus the process umask: the mode ``open(path, "w")`` creates files with."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class LinkError(UserInputError):
    """A file or folder the project would write (or delete) is a symbolic link (or, for a
    file written in place, not a plain file)."""


def _target(path):
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def link_message(path, link):
    """The refusal of writing ``path`` because ``link`` (``path`` itself or a folder) is a link."""
    what = "it" if link == path else f"'{link}'"
    return (f"refusing to write '{path}': {what} is a symbolic link (to '{_target(link)}'), "
            "and a write through it would land outside the folder this run writes; remove "
            "the link (or use another folder)")


def check_not_link(path, what="folder"):
    """Raise ``LinkError`` if ``path`` is a symbolic link (a folder about to be deleted or filled)."""
    if os.path.islink(path):
        raise LinkError(f"refusing to use the {what} '{path}': it is a symbolic link (to "
                        f"'{_target(path)}'), and deleting or writing into it would reach "
                        "outside; remove the link (or use another folder)")


_held = []


def hold_root(folder):
    """Declare ``folder`` written by this process: no link below it is followed by a write.

    A folder below one already held is covered by it (its writes walk down from there) and
    must not be a link itself (``LinkError``); only an outermost folder may be one.
    """
    folder = os.path.abspath(folder)
    if folder in _held:
        return
    if _root_of(folder) is not None:
        check_not_link(folder)
        return
    _held.append(folder)


def _root_of(directory):
    """The deepest held folder containing ``directory`` (or None)."""
    best = None
    for root in _held:
        if (directory == root or directory.startswith(root.rstrip(os.sep) + os.sep)) and (
                best is None or len(root) > len(best)):
            best = root
    return best


def _open_sub(dir_fd, part, current, target):
    """Open (create if missing) the subfolder ``part`` of ``dir_fd`` without following a link."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        try:
            return os.open(part, flags, dir_fd=dir_fd)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, dir_fd=dir_fd)
            return os.open(part, flags, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(current):
            raise LinkError(link_message(target, current)) from None
        raise


def _open_dir(path, target):
    """An fd of the folder ``path`` (created if missing); below a held root no link is followed.

    ``target`` is the file being written (named in a refusal).
    """
    root = _root_of(path)
    if root is None:
        os.makedirs(path, exist_ok=True)
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    os.makedirs(root, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    current = root
    try:
        for part in os.path.relpath(path, root).split(os.sep):
            if part in ("", "."):
                continue
            current = os.path.join(current, part)
            sub = _open_sub(fd, part, current, target)
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _disk_full_named(path):
    """Within the block, a full disk (or quota) becomes ``DiskFullError`` naming ``path``."""
    try:
        yield
    except OSError as err:
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise DiskFullError(disk_full_message(path, err), err.errno) from None
        raise


def _create_temporary(dir_fd, name):
    """``(fd, tmp)``: a new private ``.<name>.<random>.tmp`` in the folder ``dir_fd``."""
    while True:
        tmp = f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                           dir_fd=dir_fd), tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding=None):
    """Open a temporary sibling of ``path`` for writing; move it into place on success."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    name = os.path.basename(path)
    with _disk_full_named(path):
        dir_fd = _open_dir(directory, path)
        try:
            fd, tmp = _create_temporary(dir_fd, name)
            try:
                os.fchmod(fd, default_file_mode())
                with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
                    yield f
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise
        finally:
            os.close(dir_fd)


_FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
          "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}


def _flags(mode):
    kind = next((c for c in mode if c in _FLAGS), None)
    if kind is None:
        raise ValueError(f"invalid mode: {mode!r}")
    flags = _FLAGS[kind]
    if "+" in mode:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    return flags


def open_nofollow(path, mode="w", encoding=None, errors=None, buffering=-1, newline=None):
    """``open(path, mode)`` that never follows a symbolic link (see the module doc).

    The file gets the mode a plain ``open()`` gives it; a link at ``path`` or among the
    folders below a held root raises ``LinkError``, a non-regular file ``LinkError`` too.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    name = os.path.basename(path)
    with _disk_full_named(path):
        dir_fd = _open_dir(directory, path)
        try:
            fd = os.open(name, _flags(mode) | os.O_NOFOLLOW | os.O_NONBLOCK,
                         0o666, dir_fd=dir_fd)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise LinkError(link_message(path, path)) from None
            if err.errno == errno.ENXIO:  # a FIFO without a reader
                raise LinkError(f"refusing to write '{path}': it is not a plain file") from None
            raise
        finally:
            os.close(dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LinkError(f"refusing to write '{path}': it is not a plain file (remove it)")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, mode, buffering=buffering,
                         encoding=None if "b" in mode else encoding,
                         errors=None if "b" in mode else errors, newline=newline)
    except BaseException:
        os.close(fd)
        raise


def write_open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None,
               closefd=True, opener=None):
    """``open()`` whose writes go through ``open_nofollow`` (reads are unchanged)."""
    if isinstance(file, int) or opener is not None or not any(c in mode for c in "wax+"):
        return builtins.open(file, mode, buffering, encoding, errors, newline, closefd, opener)
    return open_nofollow(file, mode, encoding=encoding, errors=errors, buffering=buffering,
                         newline=newline)


def atomic_write_json(path, obj, indent=2):
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, sort_keys=False)
        f.write("\n")


def atomic_write_bytes(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_savefig(fig, path, dpi):
    """Write a matplotlib figure as a PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi)
    plt.close(fig)
