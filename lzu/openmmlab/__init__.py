"""Registers lzu's modules with mmdet3d's registries (import for the side effect).

* ``FixedGrid``                 (MODELS) the paper's grid generator
* ``LZUFCOSMono3D``             (MODELS) FCOS3D with zoom / unzoom
* ``LZUSMOKEMono3D``            (MODELS) SMOKE with zoom / unzoom
* ``LZUFCOS``, ``LZURetinaNet``, ``LZUFasterRCNN``, ``LZUMaskRCNN``, ``LZUCenterNet``,
  ``LZURTMDet``, ``LZUYOLOX`` (mmdet MODELS) 2-D detectors with zoom / unzoom
* ``FCOSMono3DHeadNoRescale``   (MODELS) FCOS3D head that never rescales twice
* ``DeviceAgnosticNuScenesMetric`` (METRICS) NuScenesMetric that also runs on CPU
* ``PaperEpochNuScenesDataset`` (DATASETS) NuScenesDataset with rc6's training epoch
* ``LoadImageFromFileMono3D``   (TRANSFORMS) mmdet3d's loader, plus checks naming bad files
* ``ArgoverseHDDataset``        (mmdet DATASETS) CocoDataset for Argoverse-HD's json
* ``SequenceOrderSampler``      (mmdet DATA_SAMPLERS) val/test frames in video order
* ``AdaptiveGrid``              (MODELS) per-image grids (adaptive saliency)
* ``LZUEncoderDecoder``, ``LZUCascadeEncoderDecoder`` (mmseg MODELS) segmentors with zoom / unzoom
* ``PerClassIoUMetric``         (mmseg METRICS) IoUMetric that also returns per-class IoU
* ``RNGStateHook``              (HOOKS) checkpoints carry torch's RNG state: bit-exact resume
"""

from mmdet3d.registry import MODELS

from lzu.core.adaptive_grid import AdaptiveGrid
from lzu.core.fixed_grid import FixedGrid
from lzu.openmmlab.argoverse import ArgoverseHDDataset, SequenceOrderSampler
from lzu.openmmlab.dataset import PaperEpochNuScenesDataset
from lzu.openmmlab.detector import (
    LZUFCOS,
    LZUYOLOX,
    LZUCenterNet,
    LZUFasterRCNN,
    LZUFCOSMono3D,
    LZUMaskRCNN,
    LZURetinaNet,
    LZURTMDet,
    LZUSMOKEMono3D,
)
from lzu.openmmlab.head import FCOSMono3DHeadNoRescale
from lzu.openmmlab.loading import CheckedLoadImageFromFileMono3D
from lzu.openmmlab.metric import DeviceAgnosticNuScenesMetric
from lzu.openmmlab.mmengine_patches import install_mmengine_patches
from lzu.openmmlab.rng_state import RNGStateHook
from lzu.openmmlab.seg_metric import PerClassIoUMetric
from lzu.openmmlab.segmentor import LZUCascadeEncoderDecoder, LZUEncoderDecoder

if "FixedGrid" not in MODELS.module_dict:
    MODELS.register_module(name="FixedGrid", module=FixedGrid)
if "AdaptiveGrid" not in MODELS.module_dict:
    MODELS.register_module(name="AdaptiveGrid", module=AdaptiveGrid)

# weights-only loading, atomic checkpoint writes, plain-data pickles: every change this
# import makes to mmengine is listed in lzu.openmmlab.mmengine_patches
install_mmengine_patches()

__all__ = [
    "FixedGrid",
    "LZUFCOSMono3D",
    "LZUFCOS",
    "LZURetinaNet",
    "LZUFasterRCNN",
    "LZUMaskRCNN",
    "LZUCenterNet",
    "LZURTMDet",
    "LZUYOLOX",
    "LZUSMOKEMono3D",
    "FCOSMono3DHeadNoRescale",
    "DeviceAgnosticNuScenesMetric",
    "PaperEpochNuScenesDataset",
    "CheckedLoadImageFromFileMono3D",
    "ArgoverseHDDataset",
    "SequenceOrderSampler",
    "AdaptiveGrid",
    "LZUEncoderDecoder",
    "LZUCascadeEncoderDecoder",
    "PerClassIoUMetric",
    "RNGStateHook",
]
