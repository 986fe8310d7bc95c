"""Registers lzu's modules with OpenMMLab's registries (import for the side effect).

Every class lzu registers, by its registered name (a config's ``type``); registries are
mmdet3d's unless named (``tests/test_registry_catalogue.py`` checks this list is whole):

* ``FixedGrid``                 (MODELS) the paper's grid generator
* ``AdaptiveGrid``              (MODELS) per-image grids (adaptive saliency)
* ``LZUFCOSMono3D``             (MODELS) FCOS3D with zoom / unzoom, the paper's model
* ``LZUSMOKEMono3D``            (MODELS) SMOKE with zoom / unzoom
* ``LZUFCOS``, ``LZURetinaNet``, ``LZUFasterRCNN``, ``LZUMaskRCNN``, ``LZUCenterNet``,
  ``LZURTMDet``, ``LZUYOLOX`` (mmdet MODELS) 2-D detectors with zoom / unzoom
* ``FoveaFCOS``, ``FoveaRetinaNet``, ``FoveaFasterRCNN`` (mmdet MODELS) 2-D detectors with
  FOVEA's zoom and box unwarping (the paper's 2-D baseline)
* ``FoveaRPNHead``, ``FoveaStandardRoIHead``, ``FoveaShared2FCBBoxHead``, ``FoveaRetinaHead``
  (mmdet MODELS) FOVEA's heads: GT in the original frame (``lzu.openmmlab.fovea_heads``)
* ``LZUEncoderDecoder``, ``LZUCascadeEncoderDecoder`` (mmseg MODELS) segmentors with zoom / unzoom
* ``FCOSMono3DHeadNoRescale``   (MODELS) FCOS3D head that never rescales twice
* ``DeviceAgnosticNuScenesMetric`` (METRICS) NuScenesMetric that also runs on CPU
* ``PerClassIoUMetric``         (mmseg METRICS) IoUMetric that also returns per-class IoU
* ``PaperEpochNuScenesDataset`` (DATASETS) NuScenesDataset with rc6's training epoch
* ``ArgoverseHDDataset``        (mmdet DATASETS) CocoDataset for Argoverse-HD's json
* ``SequenceOrderSampler``      (mmdet DATA_SAMPLERS) val/test frames in video order
* ``LoadImageFromFileMono3D``   (TRANSFORMS) mmdet3d's loader, plus checks naming bad files
  (replaces mmdet3d's under its name)
* ``RNGStateHook``              (mmengine HOOKS) checkpoints carry torch's RNG state: bit-exact
  resume
* ``Pretrained``                (mmengine WEIGHT_INITIALIZERS) mmengine's pretrained-weights
  initialiser, loading weights-only and checking they fit (replaces mmengine's under its name)

The registered models are in ``lzu.openmmlab.models``; the method they share, in the
mixins (``features_mixin``, ``task_mixin``, ``detector_mixin``, ``segmentor_mixin``,
``fovea_mixin``, ``adaptive_mixin``).
"""

from mmdet3d.registry import MODELS

from lzu.core.adaptive_grid import AdaptiveGrid
from lzu.core.fixed_grid import FixedGrid
from lzu.openmmlab.argoverse import ArgoverseHDDataset, SequenceOrderSampler
from lzu.openmmlab.dataset import PaperEpochNuScenesDataset
from lzu.openmmlab.fovea_heads import (
    FoveaRetinaHead,
    FoveaRPNHead,
    FoveaShared2FCBBoxHead,
    FoveaStandardRoIHead,
)
from lzu.openmmlab.head import FCOSMono3DHeadNoRescale
from lzu.openmmlab.loading import CheckedLoadImageFromFileMono3D
from lzu.openmmlab.metric import DeviceAgnosticNuScenesMetric
from lzu.openmmlab.mmengine_patches import install_mmengine_patches
from lzu.openmmlab.models import (
    LZUFCOS,
    LZUYOLOX,
    FoveaFasterRCNN,
    FoveaFCOS,
    FoveaRetinaNet,
    LZUCascadeEncoderDecoder,
    LZUCenterNet,
    LZUEncoderDecoder,
    LZUFasterRCNN,
    LZUFCOSMono3D,
    LZUMaskRCNN,
    LZURetinaNet,
    LZURTMDet,
    LZUSMOKEMono3D,
)
from lzu.openmmlab.rng_state import RNGStateHook
from lzu.openmmlab.seg_metric import PerClassIoUMetric

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
    "FoveaFCOS",
    "FoveaRetinaNet",
    "FoveaFasterRCNN",
    "FCOSMono3DHeadNoRescale",
    "FoveaRPNHead",
    "FoveaStandardRoIHead",
    "FoveaShared2FCBBoxHead",
    "FoveaRetinaHead",
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
