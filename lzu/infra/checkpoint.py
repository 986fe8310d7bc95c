"""Safe weight loading: every checkpoint the project loads is unpickled weights-only.

torch >= 2.6 loads with ``weights_only=True`` by default, but not everywhere:

* mmengine loads URLs (``torchvision://``, ``open-mmlab://``, ``mmcls://``,
  ``http(s)://``: pretrained backbones) through ``torch.hub.load_state_dict_from_url``,
  which unpickles without the weights-only restriction. A file planted in ``$TORCH_HOME/hub/checkpoints/``
  would be unpickled without restriction, i.e. could run code.
* mmengine's local loader relies on torch's default, which an environment
  variable of torch's (``TORCH_FORCE_NO_WEIGHTS_ONLY...``) can turn off.
* mmengine's ``Pretrained`` initialiser loads non-strictly, so a wrong file
  leaves the backbone silently random.

``install_safe_loading`` fixes all three in this one place: both loaders are
replaced by ``safe_torch_load`` (weights-only, always), and ``Pretrained`` refuses
a file whose tensors do not fit the module. It also registers the few globals that
mmengine checkpoints and the paper's mmcv-1.x checkpoints legitimately need
(``allow_checkpoint_globals``): numpy arrays, scalars and dtypes, mmengine's
``HistoryBuffer``, and a ``getattr`` that answers only ``HistoryBuffer``'s
statistics methods. Any other global is refused, naming it.

The only way around it is the explicit, per-file ``--unsafe-trust-checkpoint`` of
``tools/test.py`` (``lzu.apis.entrypoints.load_weights``).
"""

import os
import os.path as osp
import pickle
import zipfile
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from lzu.infra.errors import UserInputError

__all__ = [
    "CHECKPOINT_GLOBALS",
    "CheckpointError",
    "allow_checkpoint_globals",
    "history_buffer_getattr",
    "install_safe_loading",
    "safe_torch_load",
]


class CheckpointError(UserInputError):
    """A weight file is unreadable, truncated, refused by the safe loader, or does not fit."""


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


def safe_torch_load(path, map_location=None):
    """``torch.load(path, weights_only=True)``; unreadable or refused files raise ``CheckpointError``."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
        named = [ln for ln in lines if "GLOBAL" in ln or "global" in ln]
        raise CheckpointError(
            f"checkpoint '{path}' was refused by the safe loader (weights-only): "
            f"{(named or lines)[0]}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"checkpoint '{path}' is truncated or not a checkpoint: {err}") from None


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


#: parameters a pretrained file cannot have and the module initialises itself:
#: the offset convolutions of deformable (DCN) layers, zero-initialised
_SELF_INITIALISED = ("conv_offset.",)


def check_pretrained_fits(module, state_dict, source):
    """Refuse ``state_dict`` for ``module`` unless every tensor of the module is in it, same shape.

    Extra keys in the file (a classifier head) are fine; missing keys are fine
    only for ``_SELF_INITIALISED`` parameters and BN's ``num_batches_tracked``.
    """
    own = module.state_dict()
    missing = [
        k for k in own
        if k not in state_dict and not k.endswith("num_batches_tracked")
        and not any(p in k for p in _SELF_INITIALISED)
    ]
    wrong = [
        f"{k} {tuple(state_dict[k].shape)} (module: {tuple(v.shape)})"
        for k, v in own.items()
        if k in state_dict and hasattr(state_dict[k], "shape")
        and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or wrong:
        detail = []
        if missing:
            detail.append(f"{len(missing)} of the module's {len(own)} tensors are missing from "
                          f"it, e.g. {', '.join(missing[:3])}")
        if wrong:
            detail.append(f"{len(wrong)} have another shape, e.g. {', '.join(wrong[:2])}")
        where = ""
        if "://" in str(source):
            where = f" (downloaded files are cached in {osp.join(torch.hub.get_dir(), 'checkpoints')})"
        raise CheckpointError(
            f"pretrained weights '{source}'{where} do not fit {type(module).__name__}: "
            + "; ".join(detail)
        )


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


def install_safe_loading():
    """Route every weight load through ``safe_torch_load`` (idempotent; see the module doc)."""
    import mmengine.runner.checkpoint as mm_checkpoint
    from mmengine.registry import WEIGHT_INITIALIZERS

    allow_checkpoint_globals()
    mm_checkpoint.load_url = _safe_load_url
    mm_checkpoint.CheckpointLoader.register_scheme("", _safe_load_from_local, force=True)
    WEIGHT_INITIALIZERS.register_module(
        name="Pretrained", module=_checked_pretrained_init(), force=True
    )
