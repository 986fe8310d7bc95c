"""lzu: Learning to Zoom and Unzoom (Thavamani et al., CVPR 2023) on the current OpenMMLab stack.

Floors, bottom to top; a module imports only from its own floor or below
(``tests/test_layering.py`` checks every import, function-local ones included):

* ``lzu.infra``: infrastructure any program could use (errors, weights-only loading, atomic
  writes, work dirs, locks, CLI, CPU); no OpenMMLab import, and no model or config layout;
* ``lzu.core``: the method in plain PyTorch (zoom, unzoom, grid generators, saliency, wrapper);
  no OpenMMLab import, and no ``lzu.data`` import: the method knows no dataset format;
* ``lzu.data``: data tools (synthetic sets, converters, each task's data checks, saliency from
  data); it may use ``lzu.core`` (one-way), so a data tool and the method compute a saliency
  with the same code;
* ``lzu.openmmlab``: its integration with mmdet / mmdet3d / mmseg (detectors, heads, metrics,
  datasets, registry look-ups);
* ``lzu.apis``: run and entry-point glue (configs, the data check of a config, train/test).
"""

from lzu.version import __version__

__all__ = ["__version__"]
