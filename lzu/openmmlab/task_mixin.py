"""What the task mixins share: each sample's change of frame, and the model's entry points.

Every task mixin (``detector_mixin``, ``segmentor_mixin``, ``fovea_mixin``) runs one
template per batch, ``to_head_frame``:

1. for an adaptive model, each image's grids from its boxes (before any GT moves);
2. for every sample, its input region ``(h, w)`` (``img_shape``, or the one recorded
   when it was moved) and its flip, then the task's ``_move_sample``: its metainfo
   (and, in training, its GT) into the frame the head sees -- the unzoomed frame for
   LZU, the zoomed one for FOVEA -- once: a moved sample carries ``ZOOMED_FLAG``;
3. ``record_batch``: the regions, flips and grids the next ``zoom_inputs`` uses.

``loss``, ``predict`` and ``_forward`` wrap the model's own around that template:
``loss`` first refuses scale-changing batch augments; ``to_head_frame`` takes the
zoomed batch's padding for the current mode (``zoom_padding``); ``predict`` runs the
frames of a sequence in order (adaptive models) and hands the model's results to the task's ``_restore_predictions``.
"""

from lzu.openmmlab.features_mixin import INPUT_SHAPE, ZOOMED_FLAG, LZUFeaturesMixin

__all__ = ["TaskMixin", "images_of"]


def images_of(batch_inputs):
    """The image tensor of a batch (mmdet3d packs it as ``{'imgs': ...}``)."""
    return batch_inputs["imgs"] if isinstance(batch_inputs, dict) else batch_inputs


class TaskMixin(LZUFeaturesMixin):
    """The per-sample template and the wrapped entry points; see the module docstring.

    A task implements ``_move_sample`` and, where its predictions need it,
    ``_predict_kwargs`` and ``_restore_predictions``.
    """

    def to_head_frame(self, samples, with_gt, imgs=None):
        """Record each image's region and flip (adaptive, its grids) for the zoom, and move
        each sample into the frame the head sees. Returns ``_move_sample``'s value per sample."""
        self.lzu.padding = self.zoom_padding()
        grids = None
        if imgs is not None and not any(s.metainfo.get(ZOOMED_FLAG, False) for s in samples):
            grids = self.adaptive_grids(samples, imgs, training=with_gt)
        shapes, flips, moved = [], [], []
        for i, sample in enumerate(samples):
            meta = sample.metainfo
            zoomed = meta.get(ZOOMED_FLAG, False)
            shape = tuple(int(s) for s in (meta[INPUT_SHAPE] if zoomed else meta["img_shape"][:2]))
            flip = meta.get("flip_direction") if meta.get("flip", False) else None
            coarse = None if grids is None else grids[1][i:i + 1]
            shapes.append(shape)
            flips.append(flip)
            moved.append(self._move_sample(sample, shape, flip, coarse, zoomed, with_gt, imgs))
        self.record_batch(shapes, flips, grids)
        return moved

    def _move_sample(self, sample, shape, flip, coarse, zoomed, with_gt, imgs):
        """Move one sample (region ``shape``, ``flip``; ``coarse``: its adaptive coarse grid
        or ``None``) into the head's frame unless ``zoomed``; returns what ``predict`` needs."""
        raise NotImplementedError

    def _predict_kwargs(self, rescale):
        """Keyword arguments of the model's own ``predict`` (mmdet's: ``rescale``)."""
        return {"rescale": rescale}

    def _restore_predictions(self, results, moved, rescale):
        """The model's predictions, as the caller of ``predict`` expects them."""
        return results

    def loss(self, batch_inputs, batch_data_samples):
        self.check_batch_augments()
        self.to_head_frame(batch_data_samples, with_gt=True, imgs=images_of(batch_inputs))
        return super().loss(batch_inputs, batch_data_samples)

    def predict(self, batch_inputs, batch_data_samples, rescale=True):
        return self.predict_in_order(batch_inputs, batch_data_samples, rescale, self._predict_once)

    def _predict_once(self, batch_inputs, batch_data_samples, rescale):
        moved = self.to_head_frame(batch_data_samples, with_gt=False, imgs=images_of(batch_inputs))
        results = super().predict(batch_inputs, batch_data_samples, **self._predict_kwargs(rescale))
        return self._restore_predictions(results, moved, rescale)

    def _forward(self, batch_inputs, batch_data_samples=None):
        if batch_data_samples is not None:
            self.to_head_frame(batch_data_samples, with_gt=False, imgs=images_of(batch_inputs))
        return super()._forward(batch_inputs, batch_data_samples)
