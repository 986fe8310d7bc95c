"""The registered LZU detectors: ``LZU`` + the detector class, each three lines on the mixin.

2-D (mmdet's registry, so 2-D configs with ``default_scope='mmdet'`` find them and
mmdet3d configs too): ``LZUFCOS``, ``LZURetinaNet``, ``LZUFasterRCNN``,
``LZUMaskRCNN``, ``LZUCenterNet``, ``LZURTMDet``, ``LZUYOLOX``.
Monocular 3-D (mmdet3d's registry): ``LZUFCOSMono3D``, the paper's model (its
config keys and checkpoint keys are unchanged: the grid generator has no
persistent state), and ``LZUSMOKEMono3D``. Every one is configured like its
detector plus ``grid_generator=dict(type='FixedGrid', ...)``; see
``lzu.openmmlab.lzu_detector``.

FOVEA's box unwarping (the paper's 2-D baseline, mmdet's registry): ``FoveaFCOS``,
``FoveaRetinaNet``, ``FoveaFasterRCNN``; see ``lzu.openmmlab.fovea_detector``.
"""

from mmdet.models.detectors import FCOS, YOLOX, CenterNet, FasterRCNN, MaskRCNN, RetinaNet, RTMDet
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet3d.models.detectors import FCOSMono3D, SMOKEMono3D
from mmdet3d.registry import MODELS

from lzu.openmmlab.fovea_detector import FoveaDetectorMixin
from lzu.openmmlab.lzu_detector import LZUDetectorMixin, ZoomShapeError, scale_metainfo

__all__ = ["FoveaFCOS", "FoveaFasterRCNN", "FoveaRetinaNet", "LZUFCOS", "LZUCenterNet", "LZUFCOSMono3D", "LZUFasterRCNN", "LZUMaskRCNN",
           "LZURTMDet", "LZURetinaNet", "LZUSMOKEMono3D", "LZUYOLOX", "ZoomShapeError",
           "scale_metainfo"]


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
    """CenterNet with zoom / unzoom (its test-time ``border`` moves with the zoom)."""


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
