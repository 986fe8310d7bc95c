"""The evidence benchmark's records, read back and checked in one place.

* ``read_report(path, fix, rendered)``: an ``evidence.json`` (``tools/evidence.py --out``),
  read with ``lzu.infra.records.read_json_record`` and its structure checked
  (``check_report``); ``rendered=False``: a report of which only the runs are used (another
  machine's, or the published one a new run is merged into);
* ``read_task_record(path)``: a worker's ``task.json`` (``check_task_record``);
* ``read_cached_run(path, say)``: a finished run's record, or None (it is run again) when
  absent or not a run record (said through ``say``);
* ``read_plan(path)``: a worker's ``plan.json`` (how many runs its task has).

Anything malformed (not JSON, not an object, a missing or mistyped key) raises one
``UserInputError`` naming the file and the entry.
"""

import os.path as osp

from lzu.infra.errors import UserInputError
from lzu.infra.records import RecordError, read_json_record

__all__ = ["RUN_KEYS", "check_report", "check_task_record", "is_number", "read_cached_run",
           "read_plan", "read_report", "read_task_record"]


def is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


#: what a run of a task record holds, key -> the check of its value
RUN_KEYS = {"cell": lambda v: isinstance(v, str), "method": lambda v: isinstance(v, str),
            "seed": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "scale": is_number, "seconds": is_number,
            "metrics": lambda v: isinstance(v, dict) and all(
                m is None or is_number(m) for m in v.values())}


def check_task_record(task, path, where="the task"):
    """A finished task's record (a worker's ``task.json``, or a task of an evidence.json): the
    keys the report is made from, each of its kind, or one ``UserInputError`` naming ``path``
    and the entry."""
    def refuse(what):
        raise UserInputError(f"{path}: {where} {what}; rerun the benchmark to rewrite it")

    if not isinstance(task, dict):
        refuse(f"is a {type(task).__name__}, not an object")
    for key in ("metrics", "small_metrics"):
        if not (isinstance(task.get(key), list) and all(isinstance(m, str) for m in task[key])):
            refuse(f"has no list of metric names '{key}'")
    if not (isinstance(task.get("primary"), dict)
            and all(isinstance(task["primary"].get(k), str) for k in ("cell", "method", "metric"))):
        refuse("has no 'primary' {cell, method, metric}")
    if not isinstance(task.get("runs"), list) or not task["runs"]:
        refuse("has no list of 'runs'")
    for i, run in enumerate(task["runs"]):
        if not isinstance(run, dict):
            refuse(f"run {i} is not an object")
        for key, ok in RUN_KEYS.items():
            if key not in run or not ok(run[key]):
                refuse(f"run {i} has no valid '{key}' (got {run.get(key)!r})")


def check_report(report, path, rendered=True):
    """An evidence.json's structure: its top-level keys, and every measured task's record
    (``check_task_record``, and, for a report to render, its ``cells``);
    one line naming ``path``."""
    def refuse(what):
        raise UserInputError(f"{path}: {what}; rerun the benchmark (or restore the file)")

    if not (isinstance(report.get("machine"), dict) and isinstance(report["machine"].get("cpu"), str)):
        refuse("no 'machine' with its 'cpu'")
    if not isinstance(report.get("options"), dict):
        refuse("no 'options' object")
    if rendered and not is_number(report.get("wall_seconds")):
        refuse("no number 'wall_seconds'")
    for key in ("comparisons", "other_machines"):
        if key in report and not isinstance(report[key], list | dict):
            refuse(f"'{key}' is neither a list nor an object")
    for name, task in report["tasks"].items():
        if not isinstance(task, dict) or not isinstance(task.get("status"), str):
            refuse(f"task '{name}' has no 'status'")
        if task["status"] != "ok":
            continue
        check_task_record(task, path, f"task '{name}'")
        if not rendered:
            continue
        if not isinstance(task.get("cells"), dict) or not all(
                isinstance(c, dict) and isinstance(c.get("methods"), dict)
                for c in task["cells"].values()):
            refuse(f"task '{name}' has no 'cells' with their 'methods'")
        if not isinstance(task.get("provenance", {}), dict):
            refuse(f"task '{name}' has a 'provenance' that is not an object")


def read_report(path, fix="check the file", rendered=True):
    """An evidence.json as a dict, its structure checked (``check_report``), or one line
    naming the file and what is wrong."""
    report = read_json_record(path, "evidence report", fix, {"tasks": dict})
    check_report(report, path, rendered)
    return report


def read_task_record(path):
    """A worker's ``task.json``, checked (``check_task_record``)."""
    task = read_json_record(path, "task record", "rerun the task to rewrite it")
    check_task_record(task, path)
    return task


def read_cached_run(path, say):
    """A finished run's record ``{"key", "result"}``, or None when there is none or it is not
    one (then ``say`` tells why, and the run is made again)."""
    if not osp.lexists(path):
        return None
    try:
        return read_json_record(path, "cached run", "it is run again",
                                {"key": dict, "result": dict})
    except RecordError as err:
        say(str(err))
        return None


def read_plan(path):
    """How many runs a worker's ``plan.json`` counts."""
    plan = read_json_record(path, "task plan", "rerun the benchmark", {"runs": int})
    if plan["runs"] < 0:
        raise UserInputError(f"task plan '{path}' counts {plan['runs']} runs; rerun the benchmark")
    return plan["runs"]
