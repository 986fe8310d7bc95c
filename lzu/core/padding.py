"""How a zoomed batch is padded: the steps a model's own input is padded by. Plain PyTorch.

A model's input is padded bottom-right, possibly in several steps (a data pipeline's ``Pad``,
then the batching's divisor). ``PadStep`` is one such step; ``padded_shape`` and ``pad`` apply
a sequence of them to a shape and to a batch, so the zoomed batch gets exactly the padding the
model's input of the zoomed size would get. Shapes are ``(H, W)``; batches ``(B, C, H, W)``.
"""

import math
from dataclasses import dataclass

__all__ = ["PadStep", "pad", "padded_shape"]


@dataclass(frozen=True)
class PadStep:
    """Pad bottom-right to a square (``square``), then to at least ``size`` ``(H, W)``, then
    to multiples of ``size_divisor``; the new pixels get ``value`` (one number, or one per
    channel, in the space of the batch it pads)."""

    size_divisor: int = 1
    size: tuple = None
    square: bool = False
    value: object = 0.0

    def shape(self, shape):
        h, w = (int(s) for s in shape)
        if self.square:
            h = w = max(h, w)
        if self.size is not None:
            h, w = max(h, int(self.size[0])), max(w, int(self.size[1]))
        d = max(1, int(self.size_divisor or 1))
        return (math.ceil(h / d) * d, math.ceil(w / d) * d)


def padded_shape(shape, steps):
    """``shape`` ``(H, W)`` after every step of ``steps``."""
    shape = tuple(int(s) for s in shape)
    for step in steps:
        shape = step.shape(shape)
    return shape


def pad(images, steps):
    """``images`` ``(B, C, H, W)`` padded bottom-right by every step of ``steps``."""
    for step in steps:
        h, w = images.shape[-2:]
        hp, wp = step.shape((h, w))
        if (hp, wp) == (h, w):
            continue
        value = images.new_tensor(step.value).reshape(-1)
        out = value.reshape(1, -1, 1, 1).expand(images.shape[0], images.shape[1], hp, wp).clone()
        out[..., :h, :w] = images
        images = out
    return images
