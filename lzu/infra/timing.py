"""The timing harness every latency measurement uses: a clock and a percentile.

``Clock(device)()`` reads ``time.perf_counter`` after synchronising CUDA (when ``device`` is a
CUDA device), so a reading after a call includes the GPU work it queued. ``percentile`` is
linear interpolation between the closest ranks. ``interleaved`` times several calls in turns,
so that a machine's drift (clocks, temperature, other load) reaches them all alike. torch is
imported only by a clock.
"""

import time

__all__ = ["Clock", "interleaved", "percentile"]


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


def interleaved(calls, clock, warmup, iters):
    """Milliseconds of each of ``calls`` (a dict ``key -> function``), measured in turns.

    ``warmup`` untimed rounds, then ``iters`` rounds in each of which every call runs once,
    timed alone by ``clock`` (a ``Clock``). Returns ``key -> [ms of each round]``.
    """
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times = {key: [] for key in calls}
    for _ in range(iters):
        for key, fn in calls.items():
            t0 = clock()
            fn()
            times[key].append((clock() - t0) * 1e3)
    return times
