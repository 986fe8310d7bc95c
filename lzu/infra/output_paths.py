"""Output paths a tool is given, checked before the work starts.

A tool that writes its result at the end (metrics, a saliency, a figure, a report) checks the
path it was given first, so that a path it cannot write is refused in one line before minutes
of work, not with a traceback after them:

* ``check_output_file(path, option)``: the path is not a folder (nor spelled as one, with a
  trailing ``/``), and its folder exists as a folder or can be created (its nearest existing
  ancestor is a writable folder), and is writable.
* ``check_output_folder(path, option)``: the path is a folder or can be created as one.

Both raise ``OutputPathError`` naming the option and the path; they create nothing.
"""

import os
import os.path as osp

from lzu.infra.errors import UserInputError

__all__ = ["OutputPathError", "check_output_file", "check_output_folder"]


class OutputPathError(UserInputError):
    """A path given for a tool's output cannot be written."""


def _check_folder(folder, option, path):
    """``folder`` is a writable folder, or its nearest existing ancestor is one (it can be made)."""
    folder = osp.abspath(folder or ".")
    probe = folder
    while not osp.lexists(probe):
        parent = osp.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not osp.isdir(probe):
        raise OutputPathError(f"{option} '{path}': '{probe}' is a file, not a folder; give a path "
                              "in a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = (f"its folder '{probe}'" if probe == folder
                 else f"'{probe}' (where its folder would be made)")
        raise OutputPathError(f"{option} '{path}': {where} is not writable; give a path in a "
                              "folder you can write")


def check_output_file(path, option="--out"):
    """Refuse ``path`` as an output file unless it can be written (see the module docstring)."""
    text = os.fspath(path)
    if not text:
        raise OutputPathError(f"{option} is empty; give a file name")
    if osp.isdir(text) or text.endswith(("/", os.sep)):
        raise OutputPathError(f"{option} '{text}' is a folder; give a file name, e.g. "
                              f"'{osp.join(text, 'metrics.json')}'")
    _check_folder(osp.dirname(osp.abspath(text)), option, text)


def check_output_folder(path, option="--out-dir"):
    """Refuse ``path`` as an output folder unless it is one, or can be created."""
    text = os.fspath(path)
    if not text:
        raise OutputPathError(f"{option} is empty; give a folder")
    if osp.lexists(text) and not osp.isdir(text):
        raise OutputPathError(f"{option} '{text}' is a file, not a folder; give a folder")
    _check_folder(text, option, text)
