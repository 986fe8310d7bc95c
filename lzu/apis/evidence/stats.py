"""The statistics of the evidence benchmark: mean +- std over seeds, and paired differences.

    mean_std([31.2, 30.8, 32.0])              -> (31.333..., 0.611...)   (sample std, n - 1)
    paired_difference([a0, a1, a2], [b0, b1, b2])
        -> {"n": 3, "mean": mean(a - b), "std": ..., "sem": ..., "t": ..., "lo": ..., "hi": ...}

``paired_difference(a, b)`` treats ``a[i] - b[i]`` as the i-th seed's difference (same
seed, same data, same schedule: the pairing removes what the seeds share) and gives a
Student-t confidence interval ``mean +- t_{n-1, (1+level)/2} * std / sqrt(n)`` and the
paired t-test's two-sided p-value ``p`` (``paired_t_p``). The t quantile comes from scipy
when it is installed, else from ``T_975`` (95 % only); the p-value is plain Python (the
regularised incomplete beta function).

    holm([0.01, 0.04, 0.03])                  -> [0.03, 0.06, 0.06]

``holm(p)`` is Holm's step-down adjustment for a family of comparisons: the i-th smallest
of m p-values is multiplied by ``m - i + 1`` (i from 1), the running maximum is kept so the
order is preserved, and the result is capped at 1. A comparison survives at level alpha
when its adjusted p-value is below alpha; this controls the chance of any false
"resolved" reading in the family at alpha. Plain Python, no numpy needed.
"""

import math

__all__ = ["T_975", "holm", "mean_std", "paired_difference", "paired_t_p", "t_quantile",
           "t_sf_two_sided"]

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
        return {**out, "sem": None, "t": None, "lo": None, "hi": None, "p": None}
    sem = std / math.sqrt(n)
    t = t_quantile(n - 1, level)
    return {**out, "sem": sem, "t": t, "lo": mean - t * sem, "hi": mean + t * sem,
            "p": paired_t_p(mean, std, n)}


def paired_t_p(mean, std, n):
    """Two-sided p-value of the paired t-test of ``n`` differences with this ``mean`` and
    sample ``std`` (H0: the true mean difference is 0); ``None`` for ``n < 2``. Identical
    differences (std 0) give 1.0 when they are all 0 and 0.0 otherwise."""
    if n is None or n < 2 or mean is None or std is None:
        return None
    if std == 0:
        return 1.0 if mean == 0 else 0.0
    return t_sf_two_sided(abs(mean) / (std / math.sqrt(n)), n - 1)


def t_sf_two_sided(t, df):
    """``P(|T| >= t)`` for Student's t with ``df`` degrees of freedom:
    ``I_{df / (df + t^2)}(df / 2, 1 / 2)``, the regularised incomplete beta function."""
    if df < 1:
        raise ValueError(f"a t distribution needs df >= 1, got {df}")
    t = abs(float(t))
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def _betainc(a, b, x):
    """Regularised incomplete beta ``I_x(a, b)`` by its continued fraction (modified Lentz),
    using the symmetry ``I_x(a, b) = 1 - I_{1-x}(b, a)`` where it converges faster."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _betainc(b, a, 1.0 - x)
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < eps:
            break
    return math.exp(log_front) * f / a


def holm(pvalues):
    """Holm's step-down adjusted p-values of a family, in the given order (see the module
    doc); ``None`` entries stay ``None`` and do not count in the family."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(order)
    out = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
