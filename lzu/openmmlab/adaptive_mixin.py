"""Adaptive saliency on a model: one saliency per image, made from boxes, built batched.

``AdaptiveSaliencyMixin`` is the plumbing between a model and its
``lzu.openmmlab.video_saliency.VideoSaliency`` (``self.video_saliency``, ``None`` for a
fixed saliency): building it from ``model.adaptive_saliency`` with
``grid_generator=dict(type='AdaptiveGrid', ...)`` (``build_video_saliency``), the
per-image grids of a batch (``adaptive_grids``), FOVEA's learned KDE
(``adaptive_saliency.learned_kde=True``: the module ``learned_kde``, two scalars a
config's ``paramwise_cfg`` can reach by that name), predicting the frames of a sequence
in order (``predict_in_order``), and forgetting every sequence's detections when the
mode changes (``train``). ``lzu.openmmlab.features_mixin.LZUFeaturesMixin`` builds on
it; a task opts in with ``supports_adaptive = True`` (the 2-D detectors).
"""

import torch

from lzu.core.adaptive_grid import AdaptiveGrid
from lzu.core.fovea_saliency import LearnedKDE
from lzu.infra.errors import UserInputError
from lzu.openmmlab.video_saliency import VideoSaliency

__all__ = ["AdaptiveSaliencyMixin"]


class AdaptiveSaliencyMixin:
    """Per-image saliencies from boxes for a model class; see the module docstring.

    Needs ``self.grid_generator`` and ``self.lzu`` (``LZUFeaturesMixin``'s).
    """

    #: whether the task supports ``adaptive_saliency`` (per-image saliencies from boxes)
    supports_adaptive = False

    def build_video_saliency(self, cfg):
        """The ``VideoSaliency`` of ``model.adaptive_saliency`` (``None`` for a fixed grid).

        Refuses a task without adaptive saliency, an ``AdaptiveGrid`` without
        ``adaptive_saliency`` (and the reverse), ``zoom_region='padded'``, a config that
        is not a dict and a grid generator without ``grid_shape``.
        """
        owner = type(self).__name__
        adaptive = isinstance(self.grid_generator, AdaptiveGrid)
        if cfg is None and not adaptive:
            return None
        if not self.supports_adaptive:
            raise UserInputError(f"{owner} has no adaptive saliency (2-D detectors only); use "
                                 "grid_generator=dict(type='FixedGrid', ...)")
        if cfg is None or not adaptive:
            raise UserInputError(
                f"{owner}: model.adaptive_saliency and grid_generator=dict(type='AdaptiveGrid', "
                "...) go together (per-image saliencies need per-image grids); "
                + ("add model.adaptive_saliency=dict(prior_file=..., ...)" if cfg is None else
                   "set grid_generator.type='AdaptiveGrid' or remove adaptive_saliency"))
        if self.lzu.region != "image":
            raise UserInputError(f"{owner}: adaptive saliency needs zoom_region='image'")
        if not isinstance(cfg, dict):
            raise UserInputError(f"{owner}: model.adaptive_saliency must be a dict, got {cfg!r}")
        if self.grid_generator.grid_shape is None:
            raise UserInputError(f"{owner}: grid_generator.grid_shape is needed for an adaptive "
                                 "saliency (paper: (27, 48))")
        try:
            return VideoSaliency(self.grid_generator.grid_shape, owner=owner, **cfg)
        except TypeError as err:
            raise UserInputError(f"{owner}: model.adaptive_saliency: {err}") from None

    def build_learned_kde(self):
        """FOVEA's ``LearnedKDE`` when ``adaptive_saliency.learned_kde`` is set, else None."""
        saliency = self.video_saliency
        if saliency is None or not saliency.learned_kde:
            return None
        return LearnedKDE(saliency.bandwidth, saliency.amplitude)

    def train(self, mode=True):
        """``nn.Module.train``, and an adaptive model forgets every sequence's detections
        and starts its frame counts over.

        mmengine's loops switch the mode when a training, validation or test loop starts, so
        each evaluation starts from the prior and never zooms on boxes that earlier weights
        (or another split whose sequence ids collide) detected, and its counts are its own
        (``lzu.openmmlab.scoring_checks`` logs them when the loop ends)."""
        if getattr(self, "video_saliency", None) is not None:
            self.video_saliency.reset()
        return super().train(mode)

    def adaptive_grids(self, samples, imgs, training):
        """Per-image ``(upsampled, coarse)`` grids of an adaptive model (else ``None``).

        Called before the samples' GT moves into another frame (``current_gt`` reads it)."""
        if self.video_saliency is None:
            return None
        kde = None if self.learned_kde is None else self.learned_kde()
        saliency = self.video_saliency.batch_saliency(samples, training, imgs.device, imgs.dtype,
                                                      kde=kde)
        return self.grid_generator.zoom_grids(saliency)

    def predict_in_order(self, batch_inputs, samples, rescale, predict_once):
        """``predict_once`` on the batch, sequence by sequence in frame order (adaptive models).

        A batch holding several frames of one sequence runs as consecutive sub-batches
        (``VideoSaliency.waves``); each frame's detections are remembered for the next."""
        if self.video_saliency is None:
            return predict_once(batch_inputs, samples, rescale)
        results = [None] * len(samples)
        for wave in self.video_saliency.waves(samples):
            if len(wave) == len(samples):
                sub = batch_inputs
            else:
                index = torch.tensor(wave)
                sub = ({k: v[index] if torch.is_tensor(v) else v for k, v in batch_inputs.items()}
                       if isinstance(batch_inputs, dict) else batch_inputs[index])
            out = predict_once(sub, [samples[i] for i in wave], rescale)
            self.video_saliency.update(out, rescale)
            for i, result in zip(wave, out, strict=True):
                results[i] = result
        return results
