"""FOVEA's per-frame saliency rules: the uniform empty map, the composite mix, the jitter. Plain PyTorch.

FOVEA (Thavamani et al., ICCV 2021; its released code) builds a frame's saliency from
boxes with the box KDE of ``lzu.core.box_saliency`` and these rules:

* **empty box list** (a sequence's first frame, a frame after one with no detection,
  a training image with no GT): the KDE is the *uniform* map ``1 / (gh gw)``, so its
  per-image saliency (S_I) gives the identity grid;
* **composite** (S_C): ``S = (1 - prior_weight) KDE(boxes) + prior_weight S_D``
  (FOVEA: ``prior_weight = 0.5``), the KDE being the uniform map for an empty list, so
  a first frame gets ``0.5 S_D + 0.5 uniform``; ``prior_weight = 0`` is S_I;
* **training jitter**: every box centre moves by ``2 J (n - 0.5)`` pixels per axis,
  ``n ~ N(0, 1)`` (FOVEA: ``J = 50``, i.e. ``100 n - 50``: mean -50 px, sd 100 px);
  sizes are kept and the box is not clipped;
* **learned KDE** (LKDE S_I, ``LearnedKDE``): the KDE's bandwidth and amplitude are
  ``64 |1 + b| + 0.1`` and ``|1 + a| + 0.1`` for two scalar parameters ``b`` and ``a``
  initialised to 0 (so 64.1 and 1.1 at first); they learn through the image warp and
  every unwarp of the boxes (FOVEA trains them with lr x 0.005 and no weight decay).

Adaptive LZU differs on the first two (``lzu.openmmlab.video_saliency``: an empty
list takes the prior alone) and jitters relative to box size.

Conventions as ``lzu.core.box_saliency``: boxes ``(N, 4)`` x1y1x2y2 pixels of an image
of ``image_size = (W, H)``; saliencies ``(B, 1, gh, gw)`` summing to 1 per image.
"""

import torch

from lzu.core.box_saliency import boxes_to_saliency
from lzu.core.grid_shape import check_grid_shape

__all__ = ["LearnedKDE", "fovea_jitter", "fovea_saliency", "uniform_saliency"]


class LearnedKDE(torch.nn.Module):
    """FOVEA's learned KDE settings: ``forward()`` gives ``(bandwidth, amplitude)`` as float64
    scalars, ``base_bandwidth |1 + b| + 0.1`` and ``base_amplitude |1 + a| + 0.1``, where
    ``b`` (``self.bandwidth``) and ``a`` (``self.amplitude``) are parameters starting at 0."""

    def __init__(self, base_bandwidth=64.0, base_amplitude=1.0):
        super().__init__()
        self.base_bandwidth, self.base_amplitude = float(base_bandwidth), float(base_amplitude)
        self.bandwidth = torch.nn.Parameter(torch.zeros(()))
        self.amplitude = torch.nn.Parameter(torch.zeros(()))

    def forward(self):
        bandwidth = self.base_bandwidth * (1.0 + self.bandwidth.double()).abs() + 0.1
        amplitude = self.base_amplitude * (1.0 + self.amplitude.double()).abs() + 0.1
        return bandwidth, amplitude


def uniform_saliency(grid_shape, batch=1, dtype=torch.float64):
    """The uniform map ``(batch, 1, gh, gw)``, each cell ``1 / (gh gw)``; ``grid_shape`` is
    checked by ``lzu.core.grid_shape.check_grid_shape``."""
    gh, gw = check_grid_shape(grid_shape, "grid_shape", "gh, gw")
    return torch.full((batch, 1, gh, gw), 1.0 / (gh * gw), dtype=dtype)


def fovea_jitter(boxes, jitter, generator=None):
    """FOVEA's training jitter: centres ``+ 2 jitter (N(0, 1) - 0.5)`` px per axis, sizes kept."""
    boxes = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    if jitter == 0 or boxes.shape[0] == 0:
        return boxes.clone()
    noise = torch.randn(boxes.shape[0], 2, generator=generator).to(boxes.dtype)
    shift = 2.0 * float(jitter) * (noise - 0.5)
    return boxes + torch.cat((shift, shift), dim=1)


def fovea_saliency(boxes, image_size, grid_shape, bandwidth=64.0, amplitude=1.0, prior=None,
                   prior_weight=0.0, clip=True, dtype=torch.float32):
    """``(B, 1, gh, gw)``: FOVEA's S_I (``prior_weight=0``) or S_C of per-image ``boxes``.

    ``prior``: ``(1, 1, gh, gw)`` S_D, needed when ``prior_weight > 0``. ``clip``: clip
    boxes to the image first (``boxes_to_saliency``); FOVEA does not clip.
    """
    boxes = [torch.as_tensor(b, dtype=torch.float64).reshape(-1, 4) for b in boxes]
    out = uniform_saliency(grid_shape, len(boxes))
    full = [i for i, b in enumerate(boxes) if b.shape[0] > 0]
    if full:
        out[full] = boxes_to_saliency([boxes[i] for i in full], image_size, grid_shape,
                                      bandwidth, amplitude, clip=clip, dtype=torch.float64)
    if prior_weight > 0:
        if prior is None:
            raise ValueError("fovea_saliency: prior_weight > 0 needs a prior (S_D)")
        prior = torch.as_tensor(prior, dtype=torch.float64)
        prior = prior / prior.sum(dim=(2, 3), keepdim=True)
        out = (1.0 - prior_weight) * out + prior_weight * prior
    return out.to(dtype)
