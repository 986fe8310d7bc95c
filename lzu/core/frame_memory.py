"""``FrameMemory``: the previous frame's detections of each video sequence. Plain Python / PyTorch.

Adaptive zooming (FOVEA's temporal saliency, adaptive LZU) builds frame ``t``'s
saliency from frame ``t - 1``'s detections. ``FrameMemory`` keeps, per sequence id,
the index of the last frame it saw and that frame's boxes (in the original image's
pixels, ``(N, 4)`` x1y1x2y2) and scores ``(N,)``.

The rules (``previous``):

* the first frame a sequence shows (or any frame whose index is not the last
  index + 1: a missing frame, frames out of order, a sequence run again from its
  start) has **no previous detections**: the caller falls back to the dataset
  prior. Such a reset after the first frame is counted in ``resets`` (the first
  frame of a sequence is not a reset);
* otherwise it is the boxes stored for frame ``t - 1`` (possibly none: a frame
  with no detection above the threshold, which also falls back to the prior).

Frames of one sequence must reach ``store`` in order; frames of different
sequences may interleave freely (the state is keyed by sequence id).
"""

__all__ = ["FrameMemory"]


class FrameMemory:
    """Per-sequence memory of the last frame's detections (see the module docstring)."""

    def __init__(self):
        self._last = {}
        #: frames that had a predecessor-less index after the sequence's first frame
        self.resets = 0
        #: ``(sequence, expected index, got index)`` of the most recent reset
        self.last_reset = None

    def previous(self, sequence, index):
        """``(boxes, scores)`` of frame ``index - 1`` of ``sequence``, or ``None`` (use the prior)."""
        entry = self._last.get(sequence)
        if entry is None:
            return None
        last_index, boxes, scores = entry
        if int(index) != last_index + 1:
            return None
        return boxes, scores

    def store(self, sequence, index, boxes, scores):
        """Record frame ``index`` of ``sequence``'s detections (original-image pixels)."""
        entry = self._last.get(sequence)
        if entry is not None and int(index) != entry[0] + 1 and int(index) != 0:
            self.resets += 1
            self.last_reset = (sequence, entry[0] + 1, int(index))
        self._last[sequence] = (int(index), boxes.detach(), scores.detach())

    def clear(self):
        """Forget every sequence (a new evaluation)."""
        self._last.clear()

    def __len__(self):
        return len(self._last)
