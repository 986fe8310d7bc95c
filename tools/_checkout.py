"""Imported first by every tool (``import _checkout``), before anything that loads torch.

* This checkout's ``lzu`` comes first on ``sys.path``: a second clone sharing the first
  clone's environment (whose editable install points at the first clone) runs its own code.
* CPU defaults (``lzu.infra.cpu``): OpenMP waits passively, threads from the cores this
  process may use, so a busy machine slows the tools down instead of stalling them.
* A full disk (``ENOSPC``/``EDQUOT``) anywhere in a tool ends in one line naming the file,
  not a traceback (atomic writes have then left nothing half-written to be reused).
"""

import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if osp.abspath(sys.path[0] or ".") != ROOT:
    sys.path.insert(0, ROOT)

from lzu.infra.atomic_io import DiskFullError, is_disk_full  # noqa: E402
from lzu.infra.cpu import configure_cpu_environment  # noqa: E402

configure_cpu_environment()


def _disk_full_hook(kind, value, tb, _default=sys.excepthook):
    if isinstance(value, DiskFullError):
        print(f"error: {value}", file=sys.stderr)
    elif is_disk_full(value):
        where = f" writing '{value.filename}'" if getattr(value, "filename", None) else ""
        print(f"error: no space left on the device{where} ({value.strerror}): free some space "
              "and rerun; interrupted outputs are not reused", file=sys.stderr)
    else:
        _default(kind, value, tb)


sys.excepthook = _disk_full_hook
