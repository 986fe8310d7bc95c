"""Weights-only loading of checkpoint files, and the check that pretrained weights fit.

* ``safe_torch_load``: ``torch.load`` with ``weights_only=True`` always (not torch's default,
  which an environment variable can turn off); a file that is unreadable, truncated or asks
  for a global outside torch's allowlist raises ``CheckpointError`` naming it.
* ``checkpoint_meta``: a checkpoint's ``meta`` dict (what mmengine and lzu record about the
  run that saved it), read through ``safe_torch_load`` with its tensors memory-mapped, not read.
* ``check_pretrained_fits``: refuses pretrained weights that do not hold every tensor of the
  module, in its shape (a non-strict load would leave it silently random).
* ``check_finite_weights``: refuses a state dict holding a NaN or infinite value (a diverged
  training's checkpoint), naming the file and the tensors, before anything is scored with it.

``lzu.openmmlab.mmengine_patches`` routes mmengine's loaders through these and adds the
globals that mmengine's checkpoints need to the allowlist.
"""

import os.path as osp
import pickle
import zipfile

import torch

from lzu.infra.errors import UserInputError

__all__ = ["CheckpointError", "check_finite_weights", "check_pretrained_fits", "checkpoint_meta",
           "non_finite_summary", "safe_torch_load"]


class CheckpointError(UserInputError):
    """A weight file is unreadable, truncated, refused by the safe loader, or does not fit."""


def safe_torch_load(path, map_location=None, mmap=False):
    """``torch.load(path, weights_only=True)``; unreadable or refused files raise ``CheckpointError``."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
        named = [ln for ln in lines if "GLOBAL" in ln or "global" in ln]
        raise CheckpointError(
            f"checkpoint '{path}' was refused by the safe loader (weights-only): "
            f"{(named or lines)[0]}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"checkpoint '{path}' is truncated or not a checkpoint: {err}") from None


def checkpoint_meta(path):
    """The ``meta`` dict of checkpoint ``path`` (``{}`` when it has none).

    Cheap on a large file: a zip-format checkpoint is memory-mapped, so its tensors are
    not read. Unreadable or refused files raise ``CheckpointError``.
    """
    try:
        checkpoint = safe_torch_load(path, map_location="cpu", mmap=zipfile.is_zipfile(path))
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint '{path}': {err.strerror or err}") from None
    meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    return meta if isinstance(meta, dict) else {}


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


def non_finite_summary(tensor):
    """``'<n> NaN and <m> infinite of <N> values'`` (the kinds present) of a float tensor."""
    nan, inf = int(torch.isnan(tensor).sum()), int(torch.isinf(tensor).sum())
    kinds = " and ".join(f"{n} {k}" for n, k in ((nan, "NaN"), (inf, "infinite")) if n)
    return f"{kinds} of {tensor.numel()} values"


def check_finite_weights(checkpoint, source):
    """Refuse a checkpoint (a dict with ``state_dict``, or a state dict) holding NaN or infinite
    weights or buffers, naming ``source`` and the first tensors concerned."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else {}
    bad = []
    for key, value in state.items():
        if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all():
            bad.append(f"{key} ({non_finite_summary(value)})")
    if bad:
        more = f" and {len(bad) - 3} more tensors" if len(bad) > 3 else ""
        raise CheckpointError(
            f"checkpoint '{source}' holds non-finite weights: {', '.join(bad[:3])}{more}; the "
            "training that wrote it diverged (or the file is damaged) and its scores would "
            "mean nothing: evaluate an earlier checkpoint of that run")
