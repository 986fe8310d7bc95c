"""The evidence benchmark (tools/evidence.py, `sh run.sh bench`): statistics, a miniature run,
resuming, a missing task, the street-scene detection set, and docs/evidence.md vs the JSON."""

import json
import math
import os
import os.path as osp
from concurrent.futures import Future

import mmengine  # noqa: F401  (see below)
import numpy as np
import pytest
from conftest import ROOT
from helpers import load_tool

from lzu.apis.evidence import stats as _evidence_stats

evidence = load_tool("evidence")
# mmengine is imported above, at collection, not first inside a test that captures the output:
# its progress bars write to the sys.stdout of the moment it is first imported, and a test's
# captured stream is closed when that test ends (the det3d task's converter draws one later)

# ----------------------------------------------------------------------------- statistics

def test_mean_std_by_hand():
    mean, std = _evidence_stats.mean_std([1.0, 2.0, 3.0, 4.0])
    assert mean == pytest.approx(2.5)
    assert std == pytest.approx(math.sqrt(5.0 / 3.0))  # sum of squares 5, n - 1 = 3
    assert _evidence_stats.mean_std([7.0]) == (7.0, 0.0)
    with pytest.raises(ValueError):
        _evidence_stats.mean_std([])


def test_paired_difference_by_hand():
    # diffs 2, 3, 1: mean 2, sample std 1, sem 1/sqrt(3), t_{2, 0.975} = 4.3027
    d = _evidence_stats.paired_difference([3.0, 5.0, 4.0], [1.0, 2.0, 3.0])
    assert d["n"] == 3 and d["mean"] == pytest.approx(2.0) and d["std"] == pytest.approx(1.0)
    half = 4.302653 / math.sqrt(3.0)
    assert d["lo"] == pytest.approx(2.0 - half, abs=1e-3)
    assert d["hi"] == pytest.approx(2.0 + half, abs=1e-3)
    # pairing matters: the same values unpaired would give a different spread
    d2 = _evidence_stats.paired_difference([10.0, 20.0, 30.0], [9.0, 19.0, 29.0])
    assert d2["std"] == pytest.approx(0.0) and d2["lo"] == pytest.approx(1.0)
    one = _evidence_stats.paired_difference([1.0], [0.5])
    assert one["mean"] == pytest.approx(0.5) and one["lo"] is None
    with pytest.raises(ValueError):
        _evidence_stats.paired_difference([1.0, 2.0], [1.0])


def test_t_table_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df, value in enumerate(_evidence_stats.T_975, start=1):
        assert value == pytest.approx(float(scipy_stats.t.ppf(0.975, df)), abs=2e-3)


def test_paired_t_p_matches_scipy_and_holm_by_hand():
    scipy_stats = pytest.importorskip("scipy.stats")
    for t, df in ((0.3, 1), (2.5, 2), (7.0, 2), (1.2, 5), (3.3, 29)):
        assert _evidence_stats.t_sf_two_sided(t, df) == pytest.approx(
            2 * float(scipy_stats.t.sf(t, df)), rel=1e-9)
    a, b = [3.0, 5.0, 4.5], [1.0, 2.0, 3.0]
    d = _evidence_stats.paired_difference(a, b)
    assert d["p"] == pytest.approx(float(scipy_stats.ttest_rel(a, b).pvalue), rel=1e-9)
    assert _evidence_stats.paired_t_p(0.0, 0.0, 3) == 1.0
    assert _evidence_stats.paired_t_p(1.0, 0.0, 3) == 0.0
    assert _evidence_stats.paired_difference([1.0], [0.5])["p"] is None
    # Holm: sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> running max 0.06
    assert _evidence_stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert _evidence_stats.holm([0.5, None, 0.01]) == [pytest.approx(0.5), None,
                                                       pytest.approx(0.02)]
    assert _evidence_stats.holm([0.9, 0.8]) == [1.0, 1.0]


def _report(diffs, cpu="CPU A", runs=None):
    """A report of one det2d task: ``diffs`` {(cell, method, metric): [(a, b) per seed]}."""
    cells = {}
    for (cell, method, metric), pairs in diffs.items():
        c = cells.setdefault(cell, {"scale": 0.25 if "0.25" in cell else 0.5,
                                    "input_scale": 1.0, "methods": {}})
        uni = c["methods"].setdefault("uniform", {"seeds": [0, 1, 2], "metrics": {}})
        mean, std = _evidence_stats.mean_std([b for _, b in pairs])
        uni["metrics"][metric] = {"mean": mean, "std": std, "n": len(pairs)}
        entry = c["methods"].setdefault(method, {"seeds": [0, 1, 2], "metrics": {}})
        mean, std = _evidence_stats.mean_std([a for a, _ in pairs])
        entry["metrics"][metric] = {
            "mean": mean, "std": std, "n": len(pairs),
            "diff_vs_uniform": _evidence_stats.paired_difference([a for a, _ in pairs],
                                                                 [b for _, b in pairs])}
    metrics = sorted({k[2] for k in diffs}, key=lambda m: m != "AP")
    task = {"status": "ok", "metrics": metrics, "small_metrics": ["AP_small"],
            "metric_unit": "percent",
            "primary": {"cell": "det2d@0.25", "method": "lzu", "metric": "AP"},
            "runs": [{**r, "iters": 2, "seconds": 1.0} for r in runs or [
                {"cell": "det2d@0.25", "method": "uniform", "seed": s, "metrics": {}}
                for s in (0, 1, 2)]], "cells": cells}
    return {"git_sha": "0" * 40, "wall_seconds": 60.0, "options": {"seeds": [0, 1, 2]},
            "machine": {"cpu": cpu, "cores_available": 2}, "tasks": {"det2d": task}}


def test_primary_read_on_its_interval_the_rest_only_after_holm():
    diffs = {("det2d@0.25", "lzu", "AP"): [(4.0, 3.0), (4.6, 3.5), (4.1, 3.2)],
             ("det2d@0.25", "lzu", "AP_small"): [(1.0, 0.5), (1.2, 0.6), (0.9, 0.5)],
             ("det2d@0.50", "lzu", "AP"): [(4.0, 5.0), (4.1, 5.4), (3.0, 4.0)],
             ("det2d@0.50", "lzu", "AP_small"): [(1.0, 1.1), (1.5, 1.2), (1.0, 1.0)],
             ("det2d@0.25", "fovea", "AP"): [(3.2, 3.0), (3.4, 3.5), (3.1, 3.2)],
             ("det2d@0.25", "fovea", "AP_small"): [(0.8, 0.5), (1.1, 0.6), (0.9, 0.5)]}
    report = _report(diffs)
    comps = evidence.comparisons(report)
    primary = [c for c in comps if c["primary"]]
    assert [(c["cell"], c["method"], c["metric"]) for c in primary] == [
        ("det2d@0.25", "lzu", "AP")]
    assert primary[0]["resolved"] and primary[0]["lo"] > 0 and "p_holm" not in primary[0]
    secondary = [c for c in comps if not c["primary"]]
    assert len(secondary) == 5
    ps = [c["p"] for c in secondary]
    assert [c["p_holm"] for c in secondary] == pytest.approx(_evidence_stats.holm(ps))
    # a secondary whose own interval excludes 0 is not resolved unless it survives Holm
    plain = [c for c in secondary if c["lo"] > 0 or c["hi"] < 0]
    assert plain and any(not c["resolved"] for c in plain) and any(c["resolved"] for c in plain)
    assert all(c["resolved"] == (c["p_holm"] < evidence.ALPHA) for c in secondary)
    md = evidence.report_markdown(report)
    assert md.index("Primary comparisons") < md.index("Secondary comparisons")
    assert "resolved, better than uniform" in md and "| Holm p |" in md
    table = evidence.readme_table(report)
    assert "(primary)" in table and "FOVEA − uniform" in table


def test_merge_json_shows_the_same_seed_machine_spread(tmp_path, capsys):
    diffs = {("det2d@0.25", "lzu", "AP"): [(4.0, 3.0), (4.6, 3.5), (4.1, 3.2)],
             ("det2d@0.25", "lzu", "AP_small"): [(1.0, 0.5), (1.2, 0.6), (0.9, 0.5)]}

    def runs(shift):
        return [{"cell": "det2d@0.25", "method": m, "seed": s, "scale": 0.25,
                 "metrics": {"AP": v + (shift if s == 0 else 0.0)}}
                for m, vals in (("lzu", (4.0, 4.6, 4.1)), ("uniform", (3.0, 3.5, 3.2)))
                for s, v in enumerate(vals)]

    mine = _report(diffs, "Xeon", runs(0.0))
    other = _report(diffs, "EPYC", runs(0.7))
    (tmp_path / "evidence.json").write_text(json.dumps(mine))
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert "Same seed on another machine" not in evidence.report_markdown(mine)
    evidence.main(["--from-json", "--out", str(tmp_path), "--merge-json",
                   str(tmp_path / "other.json")])
    merged = json.loads((tmp_path / "evidence.json").read_text())
    assert list(merged["other_machines"]) == ["EPYC"]
    spread = evidence.machine_spread(merged)
    assert spread == [pytest.approx({"task": "det2d", "cpu": "EPYC", "metric": "AP", "pairs": 6,
                                     "differ": 2, "max_abs": 0.7, "mean_abs": 1.4 / 6,
                                     "seed_std": spread[0]["seed_std"]})]
    md = (tmp_path / "evidence.md").read_text()
    assert "Same seed on another machine" in md and "| det2d | EPYC | AP | 6 | 2 | 0.70 |" in md
    from lzu.infra.errors import UserInputError

    with pytest.raises(UserInputError, match="same CPU"):
        evidence.main(["--from-json", "--out", str(tmp_path), "--merge-json",
                       str(tmp_path / "evidence.json")])


# ----------------------------------------------------------------------------- data

def test_street_set_boxes_follow_the_perspective_law(tmp_path):
    from lzu.data.synthetic.street_argoverse import write_street_argoverse_hd

    counts = write_street_argoverse_hd(str(tmp_path / "full"), 12, 2, (288, 512), seed=3)
    low = write_street_argoverse_hd(str(tmp_path / "low"), 12, 2, (288, 512), seed=3,
                                    downsample=4)
    assert counts == low and counts["train"][1] > 12 * 5  # many objects per frame
    with open(tmp_path / "full" / "Argoverse-HD" / "annotations" / "train.json") as f:
        full = json.load(f)
    with open(tmp_path / "low" / "Argoverse-HD" / "annotations" / "train.json") as f:
        small = json.load(f)
    assert small["images"][0]["width"] == 128 and small["images"][0]["height"] == 72
    a = np.array([x["bbox"] for x in full["annotations"]])
    b = np.array([x["bbox"] for x in small["annotations"]])
    np.testing.assert_allclose(b, a / 4, rtol=1e-6, atol=1e-6)
    # size ~ distance below the horizon: box height grows with its bottom row
    bottom, height = a[:, 1] + a[:, 3], a[:, 3]
    assert np.corrcoef(bottom, height)[0, 1] > 0.6
    area = a[:, 2] * a[:, 3]
    assert np.mean(area < 32 ** 2) > 0.4  # mostly COCO-small at full resolution
    assert {x["category_id"] for x in full["annotations"]} >= {0, 2}  # persons and cars


def test_render_frame_boxes_change_nothing_drawn():
    from lzu.data.synthetic.cityscapes_writer import render_frame

    a = render_frame(np.random.default_rng(5), 128, 256)
    boxes = []
    b = render_frame(np.random.default_rng(5), 128, 256, boxes=boxes)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)) and boxes


# ----------------------------------------------------------------------------- miniature

@pytest.fixture
def tiny(monkeypatch):
    """Both 2-D tasks shrunk to a few frames, 2 iterations and the 0.25x cells (uniform, LZU),
    their workers run in this process (the subprocess costs imports, not coverage)."""
    from lzu.apis.evidence import det2d as _evidence_det2d
    from lzu.apis.evidence import seg as _evidence_seg

    monkeypatch.setattr(_evidence_det2d, "_frames", lambda quick: (6, 2))
    monkeypatch.setattr(_evidence_det2d, "_iters", lambda quick: 2)
    monkeypatch.setattr(_evidence_seg, "_frames", lambda quick: (4, 2))
    monkeypatch.setattr(_evidence_seg, "_iters", lambda quick: 2)
    full_det = _evidence_det2d.cells
    monkeypatch.setattr(_evidence_det2d, "cells", lambda quick: [
        c for c in full_det(quick) if c["method"] in ("uniform", "lzu")
        and (c["cell"] == "det2d@0.25" or c["input_scale"] != 1.0)])

    def in_process(args, name, threads=None, worker_args=()):
        if not osp.isfile(osp.join(ROOT, "lzu", "apis", "evidence", f"{name}.py")):
            return {"status": "missing", "why": "absent"}
        evidence.worker(evidence.parse_args(["--worker", name, "--work-dir", args.work_dir,
                                             "--seeds", *map(str, args.seeds), "--quick",
                                             *worker_args]))
        return {"status": "ok"}

    monkeypatch.setattr(evidence, "run_task", in_process)
    # in-process workers cannot run at once: the pool runs each unit when it is submitted
    monkeypatch.setattr(evidence, "ThreadPoolExecutor", SerialPool)


class SerialPool:
    def __init__(self, workers):
        self.workers = workers

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        future = Future()
        future.set_result(fn(*args))
        return future

    def map(self, fn, items):
        return [fn(item) for item in items]


def test_miniature_benchmark_writes_json_md_png_and_resumes(tiny, tmp_path, capsys,
                                                            monkeypatch):
    wd, out = tmp_path / "wd", tmp_path / "out"
    argv = ["--quick", "--tasks", "det2d", "seg", "--seeds", "0", "--work-dir", str(wd),
            "--out", str(out), "--jobs", "1"]
    # first on two cores, the det2d runs in shards of 2: each run is trained once, and the
    # task's last pass gathers them all
    monkeypatch.setattr(evidence, "SHARD_RUNS", 2)
    monkeypatch.setattr("lzu.infra.cpu.available_cores", lambda: 2)
    evidence.main([*argv[:-1], "2"])
    said = capsys.readouterr().out
    assert said.count("trained 2 iterations") == 6 and said.count("reusing the finished") == 4
    assert "det2d: [2/4]" in said and "seg: [2/2]" in said
    assert json.loads((wd / "det2d" / "plan.json").read_text()) == {"runs": 4}
    report = json.loads((out / "evidence.json").read_text())
    for name in ("det2d", "seg"):
        task = report["tasks"][name]
        assert task["status"] == "ok"
        for run in task["runs"]:
            assert len(run["config_sha256"]) == 64 and run["iters"] == 2
            assert set(run["metrics"]) == set(task["metrics"])
        assert task["prepared"]["data"]["full"]["count"] > 0
    det = report["tasks"]["det2d"]
    assert set(det["cells"]) == {"det2d@0.25", "det2d-upsample@0.125->0.25"}
    lzu = det["cells"]["det2d@0.25"]["methods"]["lzu"]["metrics"]["AP"]
    uni = det["cells"]["det2d@0.25"]["methods"]["uniform"]["metrics"]["AP"]
    assert lzu["diff_vs_uniform"]["mean"] == pytest.approx(lzu["mean"] - uni["mean"])
    assert (out / "evidence.png").stat().st_size > 1000
    md = (out / "evidence.md").read_text()
    assert "seg@0.25" in md and "det2d-upsample@0.125->0.25" in md
    capsys.readouterr()
    # a rerun, one task at a time, reuses every finished run and says so
    evidence.main(argv)
    said = capsys.readouterr().out
    assert said.count("reusing the finished run") == len(det["runs"]) + len(
        report["tasks"]["seg"]["runs"])
    again = json.loads((out / "evidence.json").read_text())
    assert again["tasks"]["det2d"]["runs"] == det["runs"]
    # --report-only rewrites the outputs from the workers' records, training nothing
    md = (out / "evidence.md").read_text()
    (out / "evidence.md").unlink()
    evidence.main([*argv, "--report-only"])
    said = capsys.readouterr().out
    assert "preparing" not in said and (out / "evidence.md").read_text() == md
    redone = json.loads((out / "evidence.json").read_text())
    assert redone["tasks"]["seg"]["cells"] == again["tasks"]["seg"]["cells"]
    assert redone["wall_seconds"] == again["wall_seconds"]


def test_shard_plan_covers_every_run_once_longest_first():
    runs = {"det2d": 13, "seg": 6}
    units = evidence.shard_plan(runs, 2, {"det2d": 1.0, "seg": 3.0})
    assert units[0] == ("seg", 0, 1)  # 6 runs of 3 s before shards of 5 and 4 runs of 1 s
    for task, n_runs in runs.items():
        taken = sorted(i for t, k, n in units if t == task for i in range(k, n_runs, n))
        assert taken == list(range(n_runs))
    assert {n for t, _, n in units if t == "det2d"} == {math.ceil(13 / evidence.SHARD_RUNS)}
    assert evidence.shard_plan(runs, 1, {}) == [("det2d", 0, 1), ("seg", 0, 1)]


def test_a_missing_task_module_is_reported_not_dropped(tmp_path):
    args = evidence.parse_args(["--work-dir", str(tmp_path), "--out", str(tmp_path)])
    outcome = evidence.run_task(args, "nosuchtask")
    assert outcome["status"] == "missing" and "lzu/apis/evidence/nosuchtask.py" in outcome["why"]
    report = {"git_sha": "0" * 40, "wall_seconds": 60.0, "options": {"seeds": [0, 1, 2]},
              "machine": {"cpu": "cpu", "cores_available": 2},
              "tasks": {"det3d": outcome}}
    section = evidence.report_markdown(report)
    assert "not measured: det3d (missing)" in section
    assert "det3d" in evidence.markdown(report) and "not measured" in evidence.markdown(report)


def test_unknown_task_is_refused():
    from lzu.infra.errors import UserInputError

    with pytest.raises(UserInputError, match="unknown task"):
        evidence.parse_args(["--tasks", "det4d"])


# ----------------------------------------------------------------------------- report

def test_docs_evidence_md_is_what_the_json_generates():
    path = osp.join(ROOT, "docs", "evidence.json")
    assert osp.isfile(path), "docs/evidence.json (the default `sh run.sh bench`) is missing"
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    with open(osp.join(ROOT, "docs", "evidence.md"), encoding="utf-8") as f:
        written = f.read()
    assert evidence.report_markdown(report) == written
    assert not report["options"]["quick"]
    for name, task in report["tasks"].items():
        if task["status"] != "ok":
            continue
        for cell in task["cells"].values():
            for entry in cell["methods"].values():
                assert len(entry["seeds"]) >= 3, f"{name}: fewer than 3 seeds"


def test_the_report_is_written_to_its_folder_and_readme_is_untouched(tmp_path):
    readme = osp.join(ROOT, "README.md")
    with open(readme, "rb") as f:
        before = f.read()
    mtime = os.stat(readme).st_mtime_ns
    report = {"git_sha": "abc", "wall_seconds": 120.0, "options": {"seeds": [0]},
              "machine": {"cpu": "cpu", "cores_available": 2},
              "tasks": {"det3d": {"status": "failed", "why": "boom"}}}
    (tmp_path / "evidence.json").write_text(json.dumps(report))
    evidence.main(["--from-json", "--out", str(tmp_path)])
    text = (tmp_path / "evidence.md").read_text(encoding="utf-8")
    assert text == evidence.report_markdown(report)
    assert "not measured: det3d (failed)" in text and "](evidence.png)" in text
    evidence.write_outputs(report, str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "evidence.json", "evidence.md", "evidence.png"]
    with open(readme, "rb") as f:
        assert f.read() == before
    assert os.stat(readme).st_mtime_ns == mtime


# ----------------------------------------------------------------------------- published results

def test_a_repeated_task_name_is_refused():
    from lzu.infra.errors import UserInputError

    with pytest.raises(UserInputError, match="more than once"):
        evidence.parse_args(["--tasks", "det2d", "det2d"])


def _task_record(cell, ap):
    runs = [{"cell": cell, "method": m, "scale": 0.25, "input_scale": 1.0, "seed": s,
             "iters": 2, "seconds": 1.0, "metrics": {"AP": ap + d + 0.1 * s, "AP_small": 0.5}}
            for m, d in (("uniform", 0.0), ("lzu", 0.3)) for s in (0, 1, 2)]
    return {"task": "det2d", "status": "ok", "metrics": ["AP", "AP_small"],
            "small_metrics": ["AP_small"], "metric_unit": "percent", "prepared": {},
            "primary": {"cell": cell, "method": "lzu", "metric": "AP"}, "runs": runs,
            "seconds": 6.0}


def _published(tmp_path):
    previous = {"schema": 1, "git_sha": "a" * 40, "wall_seconds": 60.0,
                "machine": {"cpu": "Old CPU", "cores_available": 2},
                "options": {"quick": False, "seeds": [0, 1, 2], "tasks": list(evidence.TASKS)},
                "tasks": {}}
    for name in evidence.TASKS:
        task = _task_record(f"{name}@0.25", 3.0)
        task["cells"] = evidence.summarise(task)
        previous["tasks"][name] = task
    out = tmp_path / "out"
    out.mkdir()
    (out / "evidence.json").write_text(json.dumps(previous))
    return previous, out


def test_a_subset_run_keeps_the_other_tasks_published_results(tmp_path, monkeypatch):
    previous, out = _published(tmp_path)
    wd = tmp_path / "wd"

    def fake_run_tasks(args):
        os.makedirs(wd / "det2d", exist_ok=True)
        (wd / "det2d" / "task.json").write_text(json.dumps(_task_record("det2d@0.25", 5.0)))
        return {"det2d": {"status": "ok", "threads": 1}}

    monkeypatch.setattr(evidence, "run_tasks", fake_run_tasks)
    evidence.main(["--tasks", "det2d", "--work-dir", str(wd), "--out", str(out)])
    report = json.loads((out / "evidence.json").read_text())
    assert list(report["tasks"]) == list(evidence.TASKS)
    assert report["tasks"]["det2d"]["runs"][0]["metrics"]["AP"] == 5.0  # the new run
    for name in ("seg", "det3d"):  # kept, with where they came from
        assert report["tasks"][name]["runs"] == previous["tasks"][name]["runs"]
        assert report["tasks"][name]["provenance"]["cpu"] == "Old CPU"
    md = (out / "evidence.md").read_text()
    assert "seg: kept from an earlier run" in md and "det3d@0.25" in md


def test_a_failed_task_fails_the_command_and_keeps_its_published_results(tmp_path, monkeypatch):
    from lzu.infra.errors import UserInputError

    previous, out = _published(tmp_path)
    monkeypatch.setattr(evidence, "run_tasks", lambda args: {
        "det2d": {"status": "failed", "why": "boom", "log": "x.log"}})
    with pytest.raises(UserInputError, match="not measured: det2d"):
        evidence.main(["--tasks", "det2d", "--work-dir", str(tmp_path / "wd"), "--out", str(out)])
    report = json.loads((out / "evidence.json").read_text())
    assert report["tasks"]["det2d"]["runs"] == previous["tasks"]["det2d"]["runs"]
    assert report["tasks"]["det2d"]["rerun"]["status"] == "failed"
    assert "the latest rerun did not finish (failed: boom)" in (out / "evidence.md").read_text()


class _FakeTask:
    """A task module whose data are two label files and an image, and whose runs are counted."""

    NAME, METRICS, SMALL_METRICS, PRIMARY = "det2d", ("AP", "AP_small"), ("AP_small",), (
        "c", "lzu", "AP")

    def __init__(self):
        self.runs = 0

    def prepare(self, work_dir, quick, log):
        root = osp.join(work_dir, "data")
        os.makedirs(root, exist_ok=True)
        for name, text in (("train.json", "[1, 2, 3]"), ("val.json", "[4, 5, 6]"),
                           ("frame.jpg", "pixels")):
            if not osp.isfile(osp.join(root, name)):
                with open(osp.join(root, name), "w") as f:
                    f.write(text)
        return {"saliency_sha256": "s", "data": {"train_boxes": 3}}

    def cells(self, quick):
        return [{"cell": "c", "method": "uniform", "scale": 0.25, "input_scale": 1.0}]

    def run(self, work_dir, cell, seed, quick, log):
        self.runs += 1
        return {"metrics": {"AP": 1.0, "AP_small": 0.5}, "config_sha256": "0" * 64,
                "iters": 2, "seconds": 0.1}


def test_a_cached_run_is_reused_only_when_data_code_and_packages_are_the_same(
        tmp_path, monkeypatch):
    import sys
    import types

    fake = _FakeTask()
    module = types.ModuleType("_fake_evidence_task")
    for attr in ("NAME", "METRICS", "SMALL_METRICS", "PRIMARY", "prepare", "cells", "run"):
        setattr(module, attr, getattr(fake, attr))
    monkeypatch.setitem(sys.modules, "_fake_evidence_task", module)
    monkeypatch.setattr(evidence, "task_module", lambda task: "_fake_evidence_task")
    argv = ["--worker", "det2d", "--work-dir", str(tmp_path), "--seeds", "0", "--quick"]
    evidence.worker(evidence.parse_args(argv))
    evidence.worker(evidence.parse_args(argv))
    assert fake.runs == 1  # reused
    # the validation labels changed in place, same size: the run is redone
    val = tmp_path / "det2d" / "data" / "val.json"
    size = val.stat().st_size
    val.write_text("[4, 5, 7]")
    assert val.stat().st_size == size
    evidence.worker(evidence.parse_args(argv))
    assert fake.runs == 2
    # an image's content
    (tmp_path / "det2d" / "data" / "frame.jpg").write_text("pixelz")
    evidence.worker(evidence.parse_args(argv))
    assert fake.runs == 3
    # an installed package's version
    versions = evidence.package_versions()
    assert set(evidence.PACKAGES) <= set(versions) and versions["torch"]
    monkeypatch.setattr(evidence, "package_versions", lambda: {**versions, "mmdet": "0.0"})
    evidence.worker(evidence.parse_args(argv))
    assert fake.runs == 4
    evidence.worker(evidence.parse_args(argv))
    assert fake.runs == 4
    # the code fingerprint covers every tool the tasks run and lzu's data files
    files = evidence.code_files()
    for rel in ("tools/make_synthetic_nuscenes.py", "tools/create_data.py", "tools/train.py"):
        assert osp.join(ROOT, rel) in files


def test_det2d_cells_hold_the_five_methods_with_their_configs():
    from lzu.apis.evidence import det2d as _evidence_det2d

    for quick in (False, True):
        cells = _evidence_det2d.cells(quick)
        for scale in ((0.25,) if quick else (0.25, 0.5)):
            assert {c["method"] for c in cells if c["cell"] == f"det2d@{scale:.2f}"} == set(
                _evidence_det2d.METHODS)
    from mmengine.config import Config

    for method in ("lzu_adaptive", "fovea_adaptive"):
        cfg = Config.fromfile(osp.join(ROOT, _evidence_det2d.CONFIGS[method]))
        assert cfg.model.grid_generator.type == "AdaptiveGrid"
        assert cfg.test_dataloader.sampler.type == "SequenceOrderSampler"
        assert "prev_gt_bboxes" in cfg.train_dataloader.dataset.pipeline[-1]["meta_keys"]


# ------------------------------------------------------------ malformed records: one line


def _published_report():
    with open(osp.join(ROOT, "docs", "evidence.json"), encoding="utf-8") as f:
        return json.load(f)


def _broken_reports():
    yield "not json", "{not json", "is not valid JSON"
    yield "a list", [], "holds a list, not an object"
    yield "tasks a list", {"tasks": []}, "has 'tasks' of type list, not dict"
    report = _published_report()
    del report["machine"]
    yield "no machine", report, "no 'machine'"
    report = _published_report()
    report["tasks"]["det2d"]["runs"] = "many"
    yield "runs a string", report, "task 'det2d' has no list of 'runs'"
    report = _published_report()
    del report["tasks"]["seg"]["runs"][3]["metrics"]
    yield "a run without metrics", report, "run 3 has no valid 'metrics'"
    report = _published_report()
    report["tasks"]["det3d"]["runs"][0]["seed"] = "zero"
    yield "a seed of the wrong type", report, "run 0 has no valid 'seed'"
    report = _published_report()
    report["tasks"]["det2d"]["cells"] = [1, 2]
    yield "cells a list", report, "has no 'cells'"
    report = _published_report()
    report["tasks"]["det2d"]["status"] = 7
    yield "a status number", report, "task 'det2d' has no 'status'"


@pytest.mark.parametrize("mode", ["--from-json", "--readme-table", "--merge-json"])
def test_a_malformed_evidence_json_is_one_line_naming_the_file(tmp_path, mode):
    from conftest import run_tool
    from helpers import assert_clean_error

    for what, content, message in _broken_reports():
        if mode == "--merge-json" and "cells" in message:
            continue  # only another machine's runs are merged
        out = tmp_path / what.replace(" ", "_")
        out.mkdir()
        path = out / "evidence.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        if mode == "--merge-json":
            args = ["--from-json", "--out", str(tmp_path / "good"), "--merge-json", str(path)]
            (tmp_path / "good").mkdir(exist_ok=True)
            (tmp_path / "good" / "evidence.json").write_text(json.dumps(_published_report()))
        else:
            args = ["--from-json", "--out", str(out), *([mode] if mode != "--from-json" else [])]
        result = run_tool(["tools/evidence.py", *args])
        assert_clean_error(result, str(path), message)


def test_a_malformed_task_record_is_one_line_naming_it(tmp_path):
    evidence = load_tool("evidence")
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "det2d").mkdir(parents=True)
    out.mkdir()
    record = work / "det2d" / "task.json"
    task = dict(_published_report()["tasks"]["det2d"])
    for content, message in [("[1, 2", "is not valid JSON"), (json.dumps([]), "not an object"),
                             (json.dumps({**task, "runs": [{"cell": "x"}]}),
                              "run 0 has no valid 'method'"),
                             (json.dumps({**task, "primary": None}), "no 'primary'")]:
        record.write_text(content)
        with pytest.raises(evidence.UserInputError, match=message) as err:
            evidence.main(["--tasks", "det2d", "--work-dir", str(work), "--out", str(out),
                           "--report-only"])
        assert str(record) in str(err.value)
