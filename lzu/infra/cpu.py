"""CPU defaults for every tool: thread counts from the cores this process may use, OpenMP passive.

Why (measured; docs/reliability.md): torch's OpenMP threads busy-wait (spin) at the end
of every parallel region until all of them arrive. When the machine has more runnable
processes than cores, one of the threads is often descheduled, and the others spin through
their whole time slice waiting for it; a training step of thousands of small parallel
regions then pays a scheduler time slice per region instead of microseconds.
``OMP_WAIT_POLICY=PASSIVE`` makes a waiting thread sleep, so a busy machine makes training
proportionally slower, not a hundred times slower.

``deterministic_cpu_kernels`` (called by the train and test tools): oneDNN's convolutions
(torch's CPU convolutions) are, by default, allowed to reduce in an order that depends on
which thread finishes first. On a quiet machine that order happens to repeat; on a busy one
it does not, and two runs of one seed drifted apart (measured: docs/reliability.md).
oneDNN's deterministic mode fixes the order for a given thread count.

``configure_cpu_environment`` must run before torch (i.e. libgomp) is loaded: the tools
call it first (``lzu.infra.bootstrap``), and their subprocesses inherit the variables. A
value the user exported is kept. ``cpu_threads`` counts the cores this process may run
on (its affinity mask and a cgroup CPU quota, e.g. ``docker --cpus``), not the machine's.
Dataloader workers stay as configured: they sleep while their prefetch queue is full, and
their number decides which worker (seeded by mmengine from the run's seed) draws the
augmentation of which batch, so changing it with the machine would change the results.
"""

import math
import os

__all__ = ["available_cores", "configure_cpu_environment", "cpu_threads",
           "deterministic_cpu_kernels"]

#: OpenMP / BLAS settings set unless the user exported them
WAIT_POLICY = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


def _cgroup_quota_cores(path="/sys/fs/cgroup/cpu.max"):
    """CPUs allowed by a cgroup v2 quota (``cpu.max``: ``quota period``), or None."""
    try:
        with open(path, encoding="ascii") as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def available_cores():
    """Cores this process may use: its CPU affinity, capped by a cgroup quota (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota_cores()
    return max(1, min(cores, quota) if quota else cores)


def cpu_threads():
    """Intra-op threads for torch: ``OMP_NUM_THREADS`` if the user set it, else the available cores."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return available_cores()


def configure_cpu_environment():
    """Set OpenMP's wait policy (and the thread count where needed) before torch loads.

    Returns the intra-op thread count. Variables the user exported win. ``OMP_NUM_THREADS``
    is exported only when fewer cores are usable than the machine has (an affinity mask or a
    cgroup quota: torch would otherwise start one thread per core of the machine); elsewhere
    torch's default stands, and so does torchrun's one thread per process. If torch is
    already imported, its thread count is set too (the wait policy then only reaches
    subprocesses).
    """
    import sys

    for key, value in WAIT_POLICY.items():
        os.environ.setdefault(key, value)
    threads = cpu_threads()
    if "OMP_NUM_THREADS" not in os.environ and threads < (os.cpu_count() or threads):
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ.setdefault("MKL_NUM_THREADS", str(threads))
    if "torch" in sys.modules and "OMP_NUM_THREADS" in os.environ:
        sys.modules["torch"].set_num_threads(threads)
    return threads


def deterministic_cpu_kernels():
    """Put oneDNN (torch's CPU convolutions) in deterministic mode; see the module doc.

    Results then repeat for a given seed and thread count; another thread count still
    reduces in another order (docs/reliability.md states the spread).
    """
    import torch

    torch.backends.mkldnn.deterministic = True
