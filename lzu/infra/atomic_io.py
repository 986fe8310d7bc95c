"""Atomic file writes: a reader never sees a half-written file.

Data goes to a temporary file in the destination folder, is flushed and
fsync'd, then ``os.replace``d over the destination (atomic on POSIX). The file
gets the permissions a plain ``open()`` would give it (``0o666`` minus the
umask), not ``mkstemp``'s private 0600, so results stay readable on shared machines.

A full disk (``ENOSPC``, or a quota: ``EDQUOT``) raises ``DiskFullError``, one message
naming the file; the temporary is removed and the destination is left as it was (absent,
or the previous complete file), so nothing half-written can be reused.
"""

import contextlib
import errno
import json
import os
import tempfile

from lzu.infra.errors import UserInputError

__all__ = ["DiskFullError", "atomic_open", "atomic_savefig", "atomic_write_json",
           "atomic_write_bytes", "default_file_mode", "is_disk_full"]

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


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding=None):
    """Open a temporary sibling of ``path`` for writing; move it into place on success."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                   suffix=".tmp")
    except OSError as err:
        if is_disk_full(err):
            raise DiskFullError(disk_full_message(path, err), err.errno) from None
        raise
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise DiskFullError(disk_full_message(path, err), err.errno) from None
        raise


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
