"""The registered LZU detectors: ``LZU`` + the detector class, each three lines on the mixin.

2-D (mmdet's registry, so 2-D configs with ``default_scope='mmdet'`` find them and
mmdet3d configs too): ``LZUFCOS``, ``LZURetinaNet``, ``LZUFasterRCNN``.
Monocular 3-D (mmdet3d's registry): ``LZUFCOSMono3D``, the paper's model; its
config keys and checkpoint keys are unchanged (the grid generator has no
persistent state). Every one is configured like its detector plus
``grid_generator=dict(type='FixedGrid', ...)``; see ``lzu.openmmlab.lzu_detector``.
"""

from mmdet.models.detectors import FCOS, FasterRCNN, RetinaNet
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet3d.models.detectors import FCOSMono3D
from mmdet3d.registry import MODELS

from lzu.openmmlab.lzu_detector import LZUDetectorMixin, ZoomShapeError, scale_metainfo

__all__ = ["LZUFCOS", "LZUFCOSMono3D", "LZUFasterRCNN", "LZURetinaNet", "ZoomShapeError",
           "scale_metainfo"]


@MODELS.register_module()
class LZUFCOSMono3D(LZUDetectorMixin, FCOSMono3D):
    """FCOS3D with zoom / unzoom (the paper's nuScenes model)."""


@MMDET_MODELS.register_module()
class LZUFCOS(LZUDetectorMixin, FCOS):
    """FCOS with zoom / unzoom."""


@MMDET_MODELS.register_module()
class LZURetinaNet(LZUDetectorMixin, RetinaNet):
    """RetinaNet with zoom / unzoom."""


@MMDET_MODELS.register_module()
class LZUFasterRCNN(LZUDetectorMixin, FasterRCNN):
    """Faster R-CNN with zoom / unzoom."""
