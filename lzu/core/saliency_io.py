"""Read, validate and write saliency maps in the paper's file format.

The paper's ``saliency.pkl`` is a CPU float tensor of shape ``[1, 1, gh, gw]``
summing to 1, written with ``pickle.dump``. We also accept ``.npy`` arrays and
``torch.save`` files. Nothing here can execute code from the file: pickles go
through ``lzu.infra.safe_pickle`` and ``torch.load`` runs with ``weights_only=True``.
"""

import os
import pickle
import zipfile

import numpy as np
import torch

from lzu.infra.atomic_io import atomic_open
from lzu.infra.errors import UserInputError
from lzu.infra.safe_pickle import UnsafePickleError, restricted_load

__all__ = ["SaliencyError", "load_saliency", "validate_saliency", "save_saliency"]


class SaliencyError(UserInputError, ValueError):
    """A saliency file is missing, unreadable or not a valid saliency map."""


def _read(path):
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if zipfile.is_zipfile(path):  # torch.save's format
        return torch.load(path, map_location="cpu", weights_only=True)
    return restricted_load(path)


def validate_saliency(saliency, grid_shape, source="saliency"):
    """Check a saliency tensor and return it as float32 ``(1, 1, gh, gw)``.

    Raises ``SaliencyError`` naming ``source`` and the problem if it is not a
    tensor/array, its shape is not ``grid_shape`` (leading singleton dims
    allowed), it has NaN/Inf or negative values, or it sums to zero.
    """
    if isinstance(saliency, np.ndarray):
        saliency = torch.from_numpy(saliency)
    if not isinstance(saliency, torch.Tensor):
        raise SaliencyError(
            f"{source}: expected a tensor or array of shape [1, 1, {grid_shape[0]}, "
            f"{grid_shape[1]}], got an object of type {type(saliency).__name__}"
        )
    gh, gw = (int(s) for s in grid_shape)
    if saliency.dim() < 2 or tuple(saliency.shape[-2:]) != (gh, gw) or saliency.numel() != gh * gw:
        raise SaliencyError(
            f"{source}: shape {list(saliency.shape)} does not match grid_shape ({gh}, {gw}); "
            f"expected [1, 1, {gh}, {gw}]"
        )
    saliency = saliency.detach().to("cpu", torch.float32).reshape(1, 1, gh, gw)
    if not torch.isfinite(saliency).all():
        raise SaliencyError(f"{source}: contains NaN or Inf values")
    if (saliency < 0).any():
        raise SaliencyError(f"{source}: contains negative values (min {saliency.min().item():g})")
    if saliency.sum() <= 0:
        raise SaliencyError(f"{source}: sums to zero; a saliency map needs positive mass")
    return saliency


def load_saliency(path, grid_shape):
    """Load and validate a saliency file (pickle, ``.npy`` or ``torch.save``)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SaliencyError(
            f"saliency file '{path}' not found; build one from the training set with "
            "tools/make_saliency.py or drop in the paper's saliency.pkl"
        )
    try:
        data = _read(path)
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, RuntimeError, OSError) as err:
        raise SaliencyError(f"saliency file '{path}' could not be read: {err}") from err
    return validate_saliency(data, grid_shape, source=f"saliency file '{path}'")


def save_saliency(saliency, path):
    """Write ``saliency`` in the paper's format (pickled CPU float32 tensor), atomically."""
    saliency = saliency.detach().to("cpu", torch.float32).contiguous()
    with atomic_open(path, "wb") as f:
        pickle.dump(saliency, f)
