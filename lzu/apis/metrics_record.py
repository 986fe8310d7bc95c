"""The metrics file ``tools/test.py`` writes (``--out``, or ``<work_dir>/metrics_*.json``), read back.

It is a JSON object holding, among its provenance, ``summary`` (the headline metrics, as the
tool prints them) and ``metrics`` (every metric the evaluator reported). ``read_metrics_file``
is what every reader of one calls (the demos, train-and-score, the benchmark): a file that is
not such a record is one ``RecordError`` naming it and ``fix``.
"""

from lzu.infra.records import read_json_record

__all__ = ["read_metrics_file"]


def read_metrics_file(path, part="summary", fix="delete it and rerun"):
    """The ``part`` (``'summary'`` or ``'metrics'``) of the metrics file ``path``, checked to
    be a dict."""
    return read_json_record(path, "metrics file", fix, {part: dict})[part]
