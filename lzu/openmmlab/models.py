"""The registered models: each is a mixin + an OpenMMLab model class, three lines.

The mixins hold the method: ``detector_mixin`` and ``segmentor_mixin`` (LZU: zoom, the
model's backbone, unzoom the features), ``fovea_mixin`` (FOVEA: zoom, the whole
detector, unwarp the boxes). Every model is configured like its OpenMMLab model plus
``grid_generator=dict(type='FixedGrid', ...)``; the registered names are the config
``type`` names.

LZU detectors, 2-D (mmdet's registry, so 2-D configs with ``default_scope='mmdet'`` find
them and mmdet3d configs too): ``LZUFCOS``, ``LZURetinaNet``, ``LZUFasterRCNN``,
``LZUMaskRCNN``, ``LZUCenterNet``, ``LZURTMDet``, ``LZUYOLOX``.
LZU detectors, monocular 3-D (mmdet3d's registry): ``LZUFCOSMono3D``, the paper's
model (its config keys and checkpoint keys are unchanged: the grid generator has no
persistent state), and ``LZUSMOKEMono3D``.

FOVEA's box unwarping (the paper's 2-D baseline, mmdet's registry): ``FoveaFCOS``,
``FoveaRetinaNet``, ``FoveaFasterRCNN``.

LZU segmentors (mmseg's registry): ``LZUEncoderDecoder`` (FCN, PSPNet, DeepLabV3,
UPerNet, SegFormer, ... any config whose model is an ``EncoderDecoder``) and
``LZUCascadeEncoderDecoder`` (OCRNet and other cascades).
"""

from mmdet.models.detectors import FCOS, YOLOX, CenterNet, FasterRCNN, MaskRCNN, RetinaNet, RTMDet
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet3d.models.detectors import FCOSMono3D, SMOKEMono3D
from mmdet3d.registry import MODELS
from mmseg.models.segmentors import CascadeEncoderDecoder, EncoderDecoder
from mmseg.registry import MODELS as MMSEG_MODELS

from lzu.openmmlab.detector_mixin import LZUDetectorMixin
from lzu.openmmlab.fovea_mixin import FoveaDetectorMixin
from lzu.openmmlab.segmentor_mixin import LZUSegmentorMixin

__all__ = ["FoveaFCOS", "FoveaFasterRCNN", "FoveaRetinaNet", "LZUFCOS", "LZUCascadeEncoderDecoder",
           "LZUCenterNet", "LZUEncoderDecoder", "LZUFCOSMono3D", "LZUFasterRCNN", "LZUMaskRCNN",
           "LZURTMDet", "LZURetinaNet", "LZUSMOKEMono3D", "LZUYOLOX"]


@MODELS.register_module()
class LZUFCOSMono3D(LZUDetectorMixin, FCOSMono3D):
    """FCOS3D with zoom / unzoom (the paper's nuScenes model)."""

    supports_adaptive = False  # the adaptive saliency is built from 2-D detections


@MODELS.register_module()
class LZUSMOKEMono3D(LZUDetectorMixin, SMOKEMono3D):
    """SMOKE with zoom / unzoom (its ``trans_mat`` moves with the zoom)."""

    supports_adaptive = False  # the adaptive saliency is built from 2-D detections


@MMDET_MODELS.register_module()
class LZUFCOS(LZUDetectorMixin, FCOS):
    """FCOS with zoom / unzoom."""


@MMDET_MODELS.register_module()
class LZURetinaNet(LZUDetectorMixin, RetinaNet):
    """RetinaNet with zoom / unzoom."""


@MMDET_MODELS.register_module()
class LZUFasterRCNN(LZUDetectorMixin, FasterRCNN):
    """Faster R-CNN with zoom / unzoom."""


@MMDET_MODELS.register_module()
class LZUMaskRCNN(LZUDetectorMixin, MaskRCNN):
    """Mask R-CNN with zoom / unzoom (instance masks move with the zoom)."""


@MMDET_MODELS.register_module()
class LZUCenterNet(LZUDetectorMixin, CenterNet):
    """CenterNet with zoom / unzoom (its test-time ``border`` moves with the zoom).

    Its config's test pipeline pads around the image, centred (``RandomCenterCropPad`` in test
    mode): the zoom of that canvas is not the padded zoomed image, so such a config is refused
    when the model is built (``lzu.openmmlab.pipeline_padding``), naming the step.
    """


@MMDET_MODELS.register_module()
class LZURTMDet(LZUDetectorMixin, RTMDet):
    """RTMDet with zoom / unzoom."""


@MMDET_MODELS.register_module()
class LZUYOLOX(LZUDetectorMixin, YOLOX):
    """YOLOX with zoom / unzoom (its scale-changing batch augment is refused)."""


@MMDET_MODELS.register_module()
class FoveaFCOS(FoveaDetectorMixin, FCOS):
    """FCOS with FOVEA's zoom and box unwarping (the paper's 2-D baseline)."""


@MMDET_MODELS.register_module()
class FoveaRetinaNet(FoveaDetectorMixin, RetinaNet):
    """RetinaNet with FOVEA's zoom and box unwarping."""


@MMDET_MODELS.register_module()
class FoveaFasterRCNN(FoveaDetectorMixin, FasterRCNN):
    """Faster R-CNN with FOVEA's zoom and box unwarping."""


@MMSEG_MODELS.register_module()
class LZUEncoderDecoder(LZUSegmentorMixin, EncoderDecoder):
    """EncoderDecoder with zoom / unzoom."""


@MMSEG_MODELS.register_module()
class LZUCascadeEncoderDecoder(LZUSegmentorMixin, CascadeEncoderDecoder):
    """CascadeEncoderDecoder with zoom / unzoom."""
