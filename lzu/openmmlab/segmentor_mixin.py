"""LZU on any mmseg segmentor whose features are backbone(+neck) (``EncoderDecoder`` and kin).

``LZUSegmentorMixin`` goes first in the bases of a segmentor class
(``lzu.openmmlab.models`` registers ``LZUEncoderDecoder``). Config keys: those of
``lzu.openmmlab.features_mixin`` (``grid_generator``, ``unzoom_border``,
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
from lzu.openmmlab.features_mixin import INPUT_SHAPE, ZOOMED_FLAG
from lzu.openmmlab.frame_movers import FrameChange, move_sample, resize_label_map
from lzu.openmmlab.task_mixin import TaskMixin

__all__ = ["LZUSegmentorMixin", "resize_label_map"]

#: metainfo mmseg's heads and ``postprocess_result`` read, set even when the sample lacks it
SEGMENTOR_META = ("img_shape", "pad_shape", "padding_size")


class LZUSegmentorMixin(TaskMixin):
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

    def _move_sample(self, sample, shape, flip, coarse, zoomed, with_gt, imgs):
        """Move the sample's metainfo (and label map) to the image uniformly resized to
        ``output_shape``."""
        if not zoomed:
            h, w = self.output_shape
            change = FrameChange((w / shape[1], h / shape[0]), shape, (h, w), self.lzu.padded((h, w)),
                                 seg_pad_value=self.seg_pad_value, owner=type(self).__name__)
            move_sample(sample, change, with_gt=with_gt, ensure=SEGMENTOR_META)
            sample.set_metainfo({INPUT_SHAPE: shape, ZOOMED_FLAG: True})
        return sample

    def _predict_kwargs(self, rescale):
        return {}  # mmseg's predict has no rescale: it returns label maps at the original size

    def _samples_for(self, inputs):
        """Data samples for a bare ``predict(inputs)``: predictions at the input size."""
        from mmseg.structures import SegDataSample

        shape = tuple(int(s) for s in inputs.shape[-2:])
        meta = dict(ori_shape=shape, img_shape=shape, pad_shape=shape, padding_size=[0, 0, 0, 0])
        return [SegDataSample(metainfo=dict(meta)) for _ in range(inputs.shape[0])]

    def predict(self, inputs, data_samples=None):
        if data_samples is None:
            data_samples = self._samples_for(inputs)
        return super().predict(inputs, data_samples)
