"""The timing harness every latency measurement uses: a clock and a percentile.

``Clock(device)()`` reads ``time.perf_counter`` after synchronising CUDA (when ``device`` is a
CUDA device), so a reading after a call includes the GPU work it queued. ``percentile`` is
linear interpolation between the closest ranks. torch is imported only by a CUDA clock.
"""

import time

__all__ = ["Clock", "percentile"]


def percentile(values, q):
    """Linear-interpolated percentile ``q`` in [0, 100] of ``values``."""
    data = sorted(values)
    if not data:
        raise ValueError("percentile of an empty list")
    pos = (len(data) - 1) * q / 100.0
    lo, hi = int(pos), min(int(pos) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


class Clock:
    """Seconds (``time.perf_counter``), read after the device's queued work has finished."""

    def __init__(self, device="cpu"):
        import torch

        self.device = torch.device(device)
        self._sync = torch.cuda.synchronize if self.device.type == "cuda" else None

    def __call__(self):
        if self._sync is not None:
            self._sync(self.device)
        return time.perf_counter()
