"""LZU on any mmseg segmentor whose features are backbone(+neck) (``EncoderDecoder`` and kin).

``LZUSegmentorMixin`` goes first in the bases of a segmentor class
(``lzu.openmmlab.segmentor`` registers ``LZUEncoderDecoder``). Config keys: those of
``lzu.openmmlab.lzu_features`` (``grid_generator``, ``unzoom_border``,
``follow_flips``, ``pad_size_divisor``); ``zoom_region`` is ``'image'`` only.

What happens to a batch (images ``(B, 3, Hp, Wp)``, each image's valid region
``img_shape`` top-left, as mmseg's data preprocessor batches them):

1. each image's region is zoomed to ``output_shape = (H, W)`` (any aspect ratio,
   smaller or larger than the image) with its fixed saliency, flipped with the
   image when ``follow_flips``;
2. the backbone (+neck) runs on the zoomed batch, padded to ``pad_size_divisor``;
3. every feature level is unzoomed: it now looks like the features of the image
   *uniformly resized* to ``(H, W)``;
4. the decode head and the auxiliary heads run unchanged. Their logits live in
   that uniformly resized frame: each sample's metainfo says so (``img_shape =
   (H, W)``, ``pad_shape`` the padded output, ``padding_size``; ``ori_shape`` is
   kept), so mmseg's own ``predict_by_feat`` / ``postprocess_result`` resize them to
   the input and then to the original image exactly as for any segmentor, and
   ``predict`` returns label maps at the original resolution.

The loss compares with labels exactly as the uniform baseline does: each
training label map (its valid region) is resized to ``(H, W)`` by the function
mmseg's ``Resize(scale=(W, H), keep_ratio=False)`` applies to label maps,
``mmcv.imresize(..., interpolation='nearest')``, padded with the data
preprocessor's ``seg_pad_val`` like a baseline batch, and the decode head's
``loss_by_feat`` compares its logits (bilinearly resized to that label size) with
it. So for an un-flipped image LZU and the baseline train on the same label map.
(A flipped image's label is resized after the flip; the baseline pipeline
resizes before it.) A label map whose size differs from its image's (beyond the
batch padding the data preprocessor recorded) is refused, naming the file: it is
never cropped or stretched silently. Labels and metainfo move through
``lzu.openmmlab.frame_movers``, which refuses any field it does not know.

Inference is whole-image only: a sliding window would zoom each window with the
whole frame's saliency (``test_cfg.mode='slide'`` is refused).
"""

from lzu.infra.errors import UserInputError
from lzu.openmmlab.frame_movers import FrameChange, move_sample, resize_label_map
from lzu.openmmlab.lzu_features import INPUT_SHAPE, ZOOMED_FLAG, LZUFeaturesMixin

__all__ = ["LZUSegmentorMixin", "resize_label_map"]

#: metainfo mmseg's heads and ``postprocess_result`` read, set even when the sample lacks it
SEGMENTOR_META = ("img_shape", "pad_shape", "padding_size")


class LZUSegmentorMixin(LZUFeaturesMixin):
    """Zoom / unzoom for a segmentor class; see the module docstring."""

    zoom_regions = ("image",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        mode = (self.test_cfg or {}).get("mode", "whole")
        if mode != "whole":
            raise UserInputError(
                f"model.test_cfg.mode={mode!r}: LZU zooms whole images with one saliency, "
                "so a sliding window is not supported; use test_cfg=dict(mode='whole')"
            )

    def _to_unzoomed_frame(self, data_samples, with_gt):
        """Record each image's region and flip for the zoom; move metainfo (and labels) once."""
        self.resolve_pad_divisor()
        h, w = self.output_shape
        pad = self.lzu.padded((h, w))
        shapes, flips = [], []
        for sample in data_samples:
            meta = sample.metainfo
            zoomed = meta.get(ZOOMED_FLAG, False)
            shape = tuple(int(s) for s in (meta[INPUT_SHAPE] if zoomed else meta["img_shape"][:2]))
            shapes.append(shape)
            flips.append(meta.get("flip_direction") if meta.get("flip", False) else None)
            if zoomed:
                continue
            change = FrameChange((w / shape[1], h / shape[0]), shape, (h, w), pad,
                                 seg_pad_value=self.seg_pad_value, owner=type(self).__name__)
            move_sample(sample, change, with_gt=with_gt, ensure=SEGMENTOR_META)
            sample.set_metainfo({INPUT_SHAPE: shape, ZOOMED_FLAG: True})
        self.record_batch(shapes, flips)
        return data_samples

    def _samples_for(self, inputs):
        """Data samples for a bare ``predict(inputs)``: predictions at the input size."""
        from mmseg.structures import SegDataSample

        shape = tuple(int(s) for s in inputs.shape[-2:])
        meta = dict(ori_shape=shape, img_shape=shape, pad_shape=shape, padding_size=[0, 0, 0, 0])
        return [SegDataSample(metainfo=dict(meta)) for _ in range(inputs.shape[0])]

    def loss(self, inputs, data_samples):
        self.check_batch_augments()
        self.resolve_pad_divisor(inputs)
        self._to_unzoomed_frame(data_samples, with_gt=True)
        return super().loss(inputs, data_samples)

    def predict(self, inputs, data_samples=None):
        if data_samples is None:
            data_samples = self._samples_for(inputs)
        self.resolve_pad_divisor(inputs)
        self._to_unzoomed_frame(data_samples, with_gt=False)
        return super().predict(inputs, data_samples)

    def _forward(self, inputs, data_samples=None):
        self.resolve_pad_divisor(inputs)
        if data_samples is not None:
            self._to_unzoomed_frame(data_samples, with_gt=False)
        return super()._forward(inputs, data_samples)
