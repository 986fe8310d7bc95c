"""``RNGStateHook``: checkpoints carry torch's random state, so a resumed run is bit-exact.

mmengine's checkpoints hold weights, optimizer, schedulers and the seed, but not the random
number generators' state: after ``--resume``, dropout (mmseg's decode heads) draws other
masks than the uninterrupted run would have, and the weights drift apart.

The hook stores torch's CPU (and CUDA) generator states in every checkpoint
(``checkpoint['rng_state']``) and restores them right before the first training iteration
after a resume, i.e. after mmengine has advanced the dataloader past the batches already
trained on. Only torch's generators are restored: data augmentation draws from numpy in the
dataloader workers, whose seeds mmengine derives from the run's seed and which the advance
replays. A checkpoint without the state (older ones) resumes as before.
"""

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ["RNGStateHook"]


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save torch's RNG states in checkpoints; restore them when training resumes."""

    priority = "VERY_LOW"

    def __init__(self):
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint):
        state = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint["rng_state"] = state

    def after_load_checkpoint(self, runner, checkpoint):
        if getattr(runner, "_resume", False):  # not for load_from (weights only)
            self._pending = checkpoint.get("rng_state")

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        torch.set_rng_state(state["torch"])
        cuda = state.get("cuda")
        if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
