"""How importing ``lzu.openmmlab`` changes mmengine: every patch, in one place.

``install_mmengine_patches()`` is the one entry point; ``lzu.openmmlab``'s import calls
it, so any program that registers lzu's modules runs with all of them. It is
idempotent. The patches, what each changes and why:

1. **Weights-only loading of every weight file.** torch >= 2.6 loads with
   ``weights_only=True`` by default, but not everywhere mmengine loads:

   * mmengine loads URLs (``torchvision://``, ``open-mmlab://``, ``mmcls://``,
     ``http(s)://``: pretrained backbones) through ``torch.hub.load_state_dict_from_url``,
     which unpickles without the weights-only restriction, so a file planted in
     ``$TORCH_HOME/hub/checkpoints/`` could run code. ``mmengine.runner.checkpoint.load_url``
     is replaced by a loader that downloads into the same cache and loads weights-only.
   * mmengine's local loader (the ``""`` scheme of ``CheckpointLoader``) relies on torch's
     default, which an environment variable of torch's (``TORCH_FORCE_NO_WEIGHTS_ONLY...``)
     can turn off. The scheme is re-registered with a weights-only loader.
   * mmengine's ``Pretrained`` initialiser (``WEIGHT_INITIALIZERS``) loads non-strictly, so
     a wrong file leaves the backbone silently random. It is re-registered as an initialiser
     that refuses a file whose tensors do not fit the module
     (``lzu.infra.checkpoint.check_pretrained_fits``).

   Both loaders go through ``lzu.infra.checkpoint.safe_torch_load``. The few globals that
   mmengine checkpoints and the paper's mmcv-1.x checkpoints legitimately need are added to
   torch's weights-only allowlist (``CHECKPOINT_GLOBALS``): numpy arrays, scalars and dtypes,
   mmengine's ``HistoryBuffer``, and a ``getattr`` that answers only ``HistoryBuffer``'s
   statistics methods. Any other global is refused, naming it. The only way around it is the
   explicit, per-file ``--unsafe-trust-checkpoint`` of ``tools/test.py``
   (``lzu.apis.entrypoints.load_weights``).
2. **Atomic checkpoint writes.** mmengine's ``LocalBackend.put`` opens the destination and
   writes into it, so a run killed while saving leaves a truncated ``epoch_N.pth`` exactly
   where ``--resume`` will look. ``AtomicLocalBackend`` is registered as the file backend of
   local paths (which is how ``save_checkpoint``, the ``CheckpointHook`` and the ``Runner``
   reach the disk): it writes to a temporary file in the same folder and renames it into
   place (``lzu.infra.atomic_io``).
3. **Plain-data pickles for ``mmengine.load``.** mmdet3d's datasets and ``NuScenesMetric``
   read info files with ``mmengine.load``, whose pickle handler calls ``pickle.load``: a
   planted info file would run code when a dataset is built. ``SafePickleHandler`` is
   registered for the ``pkl`` and ``pickle`` extensions, so every ``mmengine.load`` /
   ``mmengine.fileio.load`` of a pickle goes through ``lzu.infra.safe_pickle.load_data_pickle``:
   plain data loads, anything else is refused naming the file and the global. Writing
   (``mmengine.dump``) is unchanged.
4. **No write through a symbolic link.** mmengine writes some files in the work dir with a
   plain ``open()``, which follows a link planted at the name or among the folders: the
   ``CheckpointHook``'s ``last_checkpoint``, ``Config.dump`` (the Runner's config dump in the
   work dir, the ``LocalVisBackend``'s in ``<timestamp>/vis_data``), the
   ``LocalVisBackend``'s appended ``scalars.json``, and the log file of ``MMLogger``'s
   ``logging.FileHandler``. The ``checkpoint_hook``, ``config`` and ``vis_backend`` modules of
   mmengine are given a module-level ``open`` (``lzu.infra.atomic_io.write_open``: reads as
   before, writes through ``open_nofollow``), and ``logging.FileHandler`` opens its file
   through ``open_nofollow`` (``NoFollowFileHandler._open``, for every file handler of the
   process: mmengine's log files, rotating handlers included). ``LocalVisBackend.add_image``
   (``cv2.imwrite`` of ``vis_image/<name>_<step>.png``) encodes the PNG in memory and writes
   it with ``atomic_write_bytes`` instead (``_add_image_nofollow``). A link there, or among the
   folders below the locked work dir, is refused with one line naming it and its target; the
   bytes written and the files' modes are otherwise the same. ``mmengine.dump`` and
   checkpoints already go through ``atomic_open`` (patch 2), which replaces a link at the
   name instead of writing through it.

One more change of behaviour comes with the import but is a registration, not a patch:
mmdet3d's ``LoadImageFromFileMono3D`` transform is replaced by a checked subclass
(``lzu.openmmlab.loading``).
"""

import logging
import os
import os.path as osp
import pickle
import sys
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.fileio import register_handler
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.fileio.handlers import PickleHandler
from mmengine.fileio.io import load as mmengine_load
from mmengine.logging import HistoryBuffer

from lzu.infra.atomic_io import atomic_open, atomic_write_bytes, open_nofollow, write_open
from lzu.infra.checkpoint import CheckpointError, check_pretrained_fits, safe_torch_load
from lzu.infra.safe_pickle import load_data_pickle

__all__ = [
    "CHECKPOINT_GLOBALS",
    "AtomicLocalBackend",
    "NoFollowFileHandler",
    "SafePickleHandler",
    "allow_checkpoint_globals",
    "history_buffer_getattr",
    "install_mmengine_patches",
]


# ------------------------------------------------------------ 1. weights-only loading


def history_buffer_getattr(obj, name):
    """``getattr`` restricted to ``HistoryBuffer``'s registered statistics methods."""
    allowed = {"min", "max", "mean", "current", *HistoryBuffer._statistics_methods}
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f"refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only "
        f"HistoryBuffer statistics methods {sorted(allowed)} are allowed"
    )


def _numpy_globals():
    core = np.core.multiarray
    items = [core._reconstruct, core.scalar, np.dtype, np.ndarray]
    # dtype classes (numpy >= 1.25 pickles dtypes through them)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        items += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return items


CHECKPOINT_GLOBALS = [
    *_numpy_globals(),
    HistoryBuffer,
    (history_buffer_getattr, "builtins.getattr"),
]


def allow_checkpoint_globals():
    """Register ``CHECKPOINT_GLOBALS`` with torch's weights-only unpickler (idempotent)."""
    torch.serialization.add_safe_globals(CHECKPOINT_GLOBALS)


def _safe_load_url(url, model_dir=None, map_location=None, progress=True, **_):
    """mmengine's ``load_url``, downloading into torch's hub cache, loading weights-only."""
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), "checkpoints")
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached):
        os.makedirs(model_dir, exist_ok=True)
        torch.hub.download_url_to_file(url, cached, None, progress=progress)
    return safe_torch_load(cached, map_location)


def _safe_load_from_local(filename, map_location=None):
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f"{filename} can not be found.")
    return safe_torch_load(filename, map_location)


def _checked_pretrained_init():
    from mmengine.model.weight_init import PretrainedInit

    class CheckedPretrainedInit(PretrainedInit):
        """mmengine's ``Pretrained`` init that refuses a file which does not fit (see module doc)."""

        def __call__(self, module):
            from mmengine.runner.checkpoint import (
                _load_checkpoint,
                _load_checkpoint_with_prefix,
                load_state_dict,
            )

            if self.prefix is None:
                ckpt = _load_checkpoint(self.checkpoint, map_location=self.map_location)
                if not isinstance(ckpt, dict):
                    raise CheckpointError(f"pretrained weights '{self.checkpoint}' hold no state dict")
                state = ckpt.get("state_dict", ckpt)
                state = {k.removeprefix("module."): v for k, v in state.items()}
            else:
                state = _load_checkpoint_with_prefix(
                    self.prefix, self.checkpoint, map_location=self.map_location
                )
            check_pretrained_fits(module, state, self.checkpoint)
            load_state_dict(module, state, strict=False, logger="current")
            if hasattr(module, "_params_init_info"):
                from mmengine.model.weight_init import update_init_info

                update_init_info(module, init_info=self._get_init_info())

    return CheckedPretrainedInit


def _install_safe_loading():
    import mmengine.runner.checkpoint as mm_checkpoint
    from mmengine.registry import WEIGHT_INITIALIZERS

    allow_checkpoint_globals()
    mm_checkpoint.load_url = _safe_load_url
    mm_checkpoint.CheckpointLoader.register_scheme("", _safe_load_from_local, force=True)
    WEIGHT_INITIALIZERS.register_module(
        name="Pretrained", module=_checked_pretrained_init(), force=True
    )


# ------------------------------------------------------------ 2. atomic checkpoint writes


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put`` and ``put_text`` are atomic."""

    def put(self, obj, filepath):
        with atomic_open(str(filepath), "wb") as f:
            f.write(obj)

    def put_text(self, obj, filepath, encoding="utf-8"):
        with atomic_open(str(filepath), "w", encoding=encoding) as f:
            f.write(obj)


def _install_atomic_local_backend():
    register_backend("local", AtomicLocalBackend, force=True, prefixes="")


# ------------------------------------------------------------ 3. plain-data pickles


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


def _install_safe_pickle_handler():
    register_handler(["pkl", "pickle"])(SafePickleHandler)


# ------------------------------------------------------------ 4. no write through a link


class NoFollowFileHandler(logging.FileHandler):
    """``logging.FileHandler`` whose file is opened without following a link."""

    def _open(self):
        return open_nofollow(self.baseFilename, self.mode, encoding=self.encoding,
                             errors=self.errors)


def _add_image_nofollow(self, name, image, step=0, **kwargs):
    """``LocalVisBackend.add_image`` (same PNG bytes), written whole, never through a link."""
    import cv2

    if image.dtype != np.uint8:
        raise TypeError(f"add_image: '{name}' is {image.dtype}, not an 8-bit RGB image")
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"add_image: could not encode '{name}' as a PNG")
    atomic_write_bytes(osp.join(self._img_save_dir, f"{name}_{step}.png"), png.tobytes())


def _install_nofollow_writes():
    import mmengine.config.config as mm_config
    import mmengine.hooks.checkpoint_hook as mm_checkpoint_hook
    import mmengine.visualization.vis_backend as mm_vis_backend

    for module in (mm_checkpoint_hook, mm_config, mm_vis_backend):
        module.open = write_open
    logging.FileHandler._open = NoFollowFileHandler._open
    mm_vis_backend.LocalVisBackend.add_image = mm_vis_backend.force_init_env(_add_image_nofollow)


# ------------------------------------------------------------ the entry point


def install_mmengine_patches():
    """Install every patch of the module docstring (idempotent; ``lzu.openmmlab`` calls it)."""
    _install_safe_loading()
    _install_atomic_local_backend()
    _install_safe_pickle_handler()
    _install_nofollow_writes()
