"""``PerClassIoUMetric``: mmseg's ``IoUMetric`` that also returns each class's scores.

mmseg's ``IoUMetric`` computes per-class IoU (and Acc, ...) but only logs them
as a table and returns the means (``mIoU``, ``mAcc``, ``aAcc``). LZU's gains are
on small classes (pole, traffic sign, person, ...), so this subclass also
returns ``IoU.<class>`` (and ``Acc.<class>``, ...) in percent, rounded as mmseg
rounds its table; the computation is mmseg's own ``total_area_to_metrics``.
Classes absent from both prediction and ground truth are NaN, as in mmseg.
"""

from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

__all__ = ["PerClassIoUMetric"]


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """``IoUMetric`` whose result also holds ``<metric>.<class>`` for every class."""

    def compute_metrics(self, results):
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        totals = [sum(r[i] for r in results) for i in range(4)]
        per_class = self.total_area_to_metrics(*totals, self.metrics, self.nan_to_num, self.beta)
        per_class.pop("aAcc", None)
        for name, values in per_class.items():
            for cls, value in zip(self.dataset_meta["classes"], values, strict=True):
                metrics[f"{name}.{cls}"] = round(float(value) * 100, 2)
        return metrics
