"""Synthetic sets are complete or absent: an ownership marker first, a completion record last.

A generator killed half-way used to leave a set that looked finished (its first files were
there), and a rerun reused it. Now:

* ``begin(root, marker, options)``: refuses a folder the generator did not write (no
  ``marker``), deletes everything a previous synthetic set left under ``root`` (images,
  tables, info files and saliencies made from it; symbolic links are removed, never
  followed), writes the marker, and holds ``root`` (``lzu.infra.atomic_io.hold_root``;
  below a folder this process already holds, e.g. the evidence benchmark's work dir, ``root``
  itself must not be a link either);
* the generator writes its files;
* ``finish(root, options)`` writes ``COMPLETE_FILE`` last: the options and the size of
  every file written;
* ``check_complete(root, options)`` is what a consumer (the demos) trusts: the record is
  there, was made with these options, and every file it lists exists with its size.

All of them write atomically (temporary file + rename, which replaces a planted link
instead of writing through it), and so must the generators: every file below the held
``root`` is written with ``atomic_open`` (which also creates its folders), so a link planted
among its subfolders while a generator runs is refused with one line, never followed.
"""

import json
import os
import os.path as osp
import shutil

from lzu.infra.atomic_io import atomic_write_json, check_not_link, hold_root
from lzu.infra.records import RecordError, read_json_record

__all__ = ["COMPLETE_FILE", "begin", "check_complete", "finish"]

COMPLETE_FILE = ".lzu_complete.json"


def _remove(path):
    if osp.islink(path) or not osp.isdir(path):
        os.unlink(path)
    else:
        check_not_link(path)  # a folder replaced by a link since it was looked at
        shutil.rmtree(path)


def begin(root, marker, options, what):
    """Make ``root`` ready for a new synthetic set (see the module doc); ``what`` names it.

    ``marker`` is the generator's ownership file name; a non-empty ``root`` without it is
    refused with ``FileExistsError``.
    """
    root = os.fspath(root)
    hold_root(root)
    marker_path = osp.join(root, marker)
    if osp.islink(marker_path) or (osp.exists(marker_path) and not osp.isfile(marker_path)):
        raise FileExistsError(f"{marker_path} is not a plain file; refusing to use {root}")
    entries = os.listdir(root) if osp.isdir(root) else []
    if entries and marker not in entries:
        raise FileExistsError(f"{root} is not empty and holds no {what} that this generator "
                              "wrote; refusing to overwrite it")
    for name in entries:
        if name != marker:
            _remove(osp.join(root, name))
    os.makedirs(root, exist_ok=True)
    atomic_write_json(marker_path, options)


def _files(root):
    found = {}
    for top, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = osp.join(top, name)
            rel = osp.relpath(path, root)
            if rel != COMPLETE_FILE and not osp.islink(path):
                found[rel] = os.path.getsize(path)
    return found


def finish(root, options):
    """Record the set under ``root`` as complete: ``options`` and every file's size."""
    atomic_write_json(osp.join(root, COMPLETE_FILE), {"options": options, "files": _files(root)},
                      indent=None)


def check_complete(root, options):
    """``None`` when ``root`` holds a complete set made with ``options``, else why not."""
    path = osp.join(root, COMPLETE_FILE)
    if osp.islink(path) or not osp.isfile(path):
        return f"no completion record {path} (never written, or interrupted)"
    try:
        record = read_json_record(path, "completion record", "the set is made again",
                                  {"options": dict, "files": dict})
    except RecordError as err:
        return str(err)
    recorded, files = record["options"], record["files"]
    bad = [rel for rel, size in files.items() if not isinstance(size, int) or isinstance(size, bool)]
    if bad:
        return f"completion record '{path}' has no byte count for {bad[0]}; the set is made again"
    if recorded != json.loads(json.dumps(options)):
        return f"made with other options ({recorded}, not {options})"
    for rel, size in files.items():
        full = osp.join(root, rel)
        if osp.islink(full) or not osp.isfile(full):
            return f"{full} is missing"
        if osp.getsize(full) != size:
            return f"{full} has {osp.getsize(full)} bytes, {size} when written"
    return None
