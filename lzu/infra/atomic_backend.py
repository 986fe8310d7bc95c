"""Atomic checkpoint writes for mmengine.

mmengine's ``LocalBackend.put`` opens the destination and writes into it, so
a run killed while saving leaves a truncated ``epoch_N.pth`` exactly where
``--resume`` will look. ``AtomicLocalBackend`` writes to a temporary file in
the same folder and renames it into place (``lzu.infra.atomic_io``);
``install_atomic_local_backend`` registers it for local paths, which is how
mmengine's ``save_checkpoint`` (CheckpointHook, Runner) reaches the disk.
"""

from mmengine.fileio.backends import LocalBackend, register_backend

from lzu.infra.atomic_io import atomic_open

__all__ = ["AtomicLocalBackend", "install_atomic_local_backend"]


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put`` and ``put_text`` are atomic."""

    def put(self, obj, filepath):
        with atomic_open(str(filepath), "wb") as f:
            f.write(obj)

    def put_text(self, obj, filepath, encoding="utf-8"):
        with atomic_open(str(filepath), "w", encoding=encoding) as f:
            f.write(obj)


def install_atomic_local_backend():
    """Make mmengine use ``AtomicLocalBackend`` for local paths (idempotent)."""
    register_backend("local", AtomicLocalBackend, force=True, prefixes="")
