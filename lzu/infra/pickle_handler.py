"""mmengine's ``.pkl`` / ``.pickle`` file handler, through the plain-data unpickler.

mmdet3d's datasets and ``NuScenesMetric`` read info files with ``mmengine.load``,
whose pickle handler calls ``pickle.load``: a planted info file would run code
when a dataset is built. ``install_safe_pickle_handler`` (called by
``lzu.openmmlab``) registers ``SafePickleHandler`` for both extensions, so every
``mmengine.load``/``mmengine.fileio.load`` of a pickle goes through
``lzu.infra.safe_pickle.load_data_pickle``: plain data loads, anything else is
refused naming the file and the global. Writing (``mmengine.dump``) is unchanged.
"""

import sys

from mmengine.fileio import register_handler
from mmengine.fileio.handlers import PickleHandler
from mmengine.fileio.io import load as mmengine_load

from lzu.infra.safe_pickle import load_data_pickle

__all__ = ["SafePickleHandler", "install_safe_pickle_handler"]


def _name_of(file):
    """The path of the pickle being read from the file object ``file``.

    A real file has a ``name``. ``mmengine.load(path)`` reads the bytes itself and
    hands the handler an unnamed ``BytesIO``; the path is then that call's ``file``
    argument, two frames up (``load`` -> ``load_from_fileobj`` -> here).
    """
    name = getattr(file, "name", None)
    if isinstance(name, str):
        return name
    caller = sys._getframe(2)
    if caller.f_code is mmengine_load.__code__:
        path = caller.f_locals.get("file")
        if isinstance(path, str):
            return path
    return "a pickle read by mmengine.load"


class SafePickleHandler(PickleHandler):
    """mmengine's ``PickleHandler`` that loads plain data only (see the module doc)."""

    def load_from_fileobj(self, file, **kwargs):
        return load_data_pickle(file, _name_of(file))

    def load_from_path(self, filepath, **kwargs):
        return load_data_pickle(str(filepath))


def install_safe_pickle_handler():
    """Make ``SafePickleHandler`` mmengine's handler for ``pkl`` and ``pickle`` (idempotent)."""
    register_handler(["pkl", "pickle"])(SafePickleHandler)
