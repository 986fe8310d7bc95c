"""The registered LZU segmentors (mmseg's registry): ``LZU`` + the segmentor class, three lines each.

``LZUEncoderDecoder`` (FCN, PSPNet, DeepLabV3, UPerNet, SegFormer, ... any config
whose model is an ``EncoderDecoder``) and ``LZUCascadeEncoderDecoder`` (OCRNet and
other cascades). Each is configured like its segmentor plus
``grid_generator=dict(type='FixedGrid', ...)``; see ``lzu.openmmlab.lzu_segmentor``.
"""

from mmseg.models.segmentors import CascadeEncoderDecoder, EncoderDecoder
from mmseg.registry import MODELS

from lzu.openmmlab.lzu_segmentor import LZUSegmentorMixin

__all__ = ["LZUCascadeEncoderDecoder", "LZUEncoderDecoder"]


@MODELS.register_module()
class LZUEncoderDecoder(LZUSegmentorMixin, EncoderDecoder):
    """EncoderDecoder with zoom / unzoom."""


@MODELS.register_module()
class LZUCascadeEncoderDecoder(LZUSegmentorMixin, CascadeEncoderDecoder):
    """CascadeEncoderDecoder with zoom / unzoom."""
