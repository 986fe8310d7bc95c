"""lzu: Learning to Zoom and Unzoom (Thavamani et al., CVPR 2023) on the current OpenMMLab stack.

* ``lzu.core``: the method in plain PyTorch (zoom, unzoom, grid generators, saliency, wrapper);
* ``lzu.openmmlab``: its integration with mmdet / mmdet3d (detectors, heads, metrics, datasets);
* ``lzu.data``: data tools (synthetic sets, converters, saliency from data);
* ``lzu.infra``: infrastructure (safe loading, atomic writes, work dirs, entry points).
"""

from lzu.version import __version__

__all__ = ["__version__"]
