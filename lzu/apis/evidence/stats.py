"""The statistics of the evidence benchmark: mean +- std over seeds, and paired differences.

    mean_std([31.2, 30.8, 32.0])              -> (31.333..., 0.611...)   (sample std, n - 1)
    paired_difference([a0, a1, a2], [b0, b1, b2])
        -> {"n": 3, "mean": mean(a - b), "std": ..., "sem": ..., "t": ..., "lo": ..., "hi": ...}

``paired_difference(a, b)`` treats ``a[i] - b[i]`` as the i-th seed's difference (same
seed, same data, same schedule: the pairing removes what the seeds share) and gives a
Student-t confidence interval ``mean +- t_{n-1, (1+level)/2} * std / sqrt(n)``. The t
quantile comes from scipy when it is installed, else from ``T_975`` (95 % only).
Plain Python, no numpy needed.
"""

import math

__all__ = ["T_975", "mean_std", "paired_difference", "t_quantile"]

#: two-sided 95 % Student-t quantiles t_{df, 0.975}, df = 1 .. 30
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df, level=0.95):
    """Two-sided Student-t quantile ``t_{df, (1 + level) / 2}``."""
    if df < 1:
        raise ValueError(f"a t quantile needs df >= 1, got {df}")
    try:
        from scipy.stats import t
    except ImportError:
        if abs(level - 0.95) > 1e-12:
            raise ValueError("without scipy only level=0.95 is tabulated") from None
        return T_975[df - 1] if df <= len(T_975) else 1.960
    return float(t.ppf(0.5 + level / 2, df))


def mean_std(values):
    """``(mean, sample standard deviation)`` of a non-empty sequence (std 0.0 for one value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std of no values")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def paired_difference(a, b, level=0.95):
    """Mean of ``a[i] - b[i]`` with its Student-t confidence interval (see the module doc).

    ``a`` and ``b`` have the same length, paired by position (seed). With one pair the
    interval is undefined: ``lo`` and ``hi`` are ``None``.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    diffs = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    mean, std = mean_std(diffs)
    n = len(diffs)
    out = {"n": n, "mean": mean, "std": std, "level": level}
    if n < 2:
        return {**out, "sem": None, "t": None, "lo": None, "hi": None}
    sem = std / math.sqrt(n)
    t = t_quantile(n - 1, level)
    return {**out, "sem": sem, "t": t, "lo": mean - t * sem, "hi": mean + t * sem}
