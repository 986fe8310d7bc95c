"""lzu: Learning to Zoom and Unzoom (Thavamani et al., CVPR 2023) on mmdet3d 1.4.

The core (``lzu.zoom``, ``lzu.unzoom``, ``lzu.saliency_io``) is plain PyTorch and
imports nothing from OpenMMLab; ``lzu.mmdet3d_plugin`` registers the detector.
"""

from .version import __version__

__all__ = ["__version__"]
