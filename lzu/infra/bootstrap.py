"""The first call of every tool (``tools/*.py``), before anything that loads torch.

Each tool starts with::

    from lzu.infra.bootstrap import bootstrap

    if __name__ == "__main__":
        bootstrap()

``bootstrap()`` sets up the process a tool runs in:

* CPU defaults (``lzu.infra.cpu.configure_cpu_environment``): OpenMP waits passively, threads
  from the cores this process may use, so a busy machine slows the tools down instead of
  stalling them. It must run before torch (libgomp) loads, which is why it comes first.
* A full disk (``ENOSPC``/``EDQUOT``) anywhere in the tool ends in one line naming the file,
  not a traceback (atomic writes have then left nothing half-written to be reused).

This module imports neither torch nor any OpenMMLab package. Which checkout's ``lzu`` a tool
runs is the interpreter's ordinary import path: the editable install, or ``PYTHONPATH`` (which
``run.sh`` sets to its own checkout).
"""

import sys

from lzu.infra.atomic_io import DiskFullError, is_disk_full
from lzu.infra.cpu import configure_cpu_environment

__all__ = ["bootstrap", "disk_full_hook"]


def disk_full_hook(kind, value, tb, _default=sys.__excepthook__):
    """``sys.excepthook`` that prints a full disk as one line and anything else as usual."""
    if isinstance(value, DiskFullError):
        print(f"error: {value}", file=sys.stderr)
    elif is_disk_full(value):
        where = f" writing '{value.filename}'" if getattr(value, "filename", None) else ""
        print(f"error: no space left on the device{where} ({value.strerror}): free some space "
              "and rerun; interrupted outputs are not reused", file=sys.stderr)
    else:
        _default(kind, value, tb)


def bootstrap():
    """CPU defaults and the one-line full-disk report for this tool's process (idempotent)."""
    configure_cpu_environment()
    sys.excepthook = disk_full_hook
