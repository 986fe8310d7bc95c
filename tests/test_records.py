"""Records the project wrote earlier and reads back are checked when read
(lzu/infra/records.py): not JSON, not an object, a missing or mistyped key each end in one
line naming the file and the fix, never in a traceback or a result made from wrong values."""

import json

import pytest
from conftest import run_tool
from helpers import BASELINE, assert_clean_error, load_tool

from lzu.infra.records import RecordError, read_json_record

#: (content written, what the one line says) for a record that should be {"summary": {...}}
MALFORMED = [
    ("{not json", "is not valid JSON"),
    (b"\xff\xfe", "is not valid JSON"),
    ("[1, 2]", "holds a list, not an object"),
    ("null", "holds a null, not an object"),
    ('{"other": 1}', "has no 'summary'"),
    ('{"summary": [1]}', "has 'summary' of type list, not dict"),
]


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize(("content", "says"), MALFORMED)
def test_the_reader_names_the_file_the_problem_and_the_fix(content, says, tmp_path):
    path = _write(tmp_path / "m.json", content)
    with pytest.raises(RecordError) as err:
        read_json_record(path, "metrics file", "delete it", {"summary": dict})
    assert str(err.value).startswith(f"metrics file '{path}' {says}")
    assert str(err.value).endswith("; delete it")
    assert read_json_record(_write(tmp_path / "ok.json", '{"summary": {}, "n": 1}'), "x", "y",
                            {"summary": dict, "n": float}) == {"summary": {}, "n": 1}
    with pytest.raises(RecordError, match="'n' of type bool, not int"):
        read_json_record(_write(tmp_path / "b.json", '{"n": true}'), "x", "y", {"n": int})


@pytest.mark.parametrize(("content", "says"), MALFORMED[:4])
def test_a_metrics_file_in_the_way_of_an_evaluation_is_named(content, says, tmp_path):
    """``tools/test.py`` reads the metrics file already at its destination (whose evaluation
    it holds): a list there was an AttributeError."""
    from lzu.apis.entrypoints import metrics_destination

    out = _write(tmp_path / "metrics.json", content)
    with pytest.raises(RecordError, match=f"metrics file '{out}' {says}.*pass another --out"):
        metrics_destination(str(out), str(tmp_path), "iter_2.pth", {"evaluation_id": "e"})
    default = _write(tmp_path / "metrics_iter_2.json", content)
    with pytest.raises(RecordError, match=f"'{default}' {says}"):
        metrics_destination(None, str(tmp_path), "iter_2.pth", {"evaluation_id": "e"})


@pytest.mark.parametrize(("content", "says"), [
    ("{", "is not valid JSON"), ("[]", "holds a list, not an object")])
def test_a_malformed_demo_options_record_is_one_line(content, says, tmp_path):
    work = tmp_path / "demo"
    work.mkdir()
    record = _write(work / "demo_options.json", content)
    result = run_tool(["tools/demo.py", "--work-dir", str(work)])
    assert_clean_error(result, f"demo options record '{record}' {says}", "--fresh")
    assert sorted(p.name for p in work.iterdir() if not p.name.startswith(".")) == [
        "demo_options.json"]


@pytest.mark.parametrize(("content", "says"), [
    ("{", "is not valid JSON"),
    ("[]", "holds a list, not an object"),
    ('{"options": {}, "files": []}', "has 'files' of type list, not dict"),
    ('{"options": {}, "files": {"a": "12"}}', "has no byte count for a"),
])
def test_a_malformed_completion_record_means_the_set_is_made_again(content, says, tmp_path):
    from lzu.data.synthetic.completion import COMPLETE_FILE, check_complete

    _write(tmp_path / COMPLETE_FILE, content)
    why = check_complete(str(tmp_path), {})
    assert says in why and str(tmp_path / COMPLETE_FILE) in why and "made again" in why


@pytest.mark.parametrize(("content", "says"), [
    ("{", "is not valid JSON"),
    ('{"uniform": [[1, 2]]}', "has no 'lzu'"),
    ('{"uniform": [[1, 2]], "lzu": [[1]]}', "has a 'lzu' entry [1] that is not [ms, score]"),
])
def test_malformed_paper_results_are_refused_before_the_timing(content, says, tmp_path):
    paper = _write(tmp_path / "paper.json", content)
    result = run_tool(["tools/benchmark.py", BASELINE, "--fake-inputs", "--frame-size", "64", "48",
                       "--warmup", "0", "--iters", "1", "--out-dir", str(tmp_path / "out"),
                       "--paper-results", str(paper)])
    assert_clean_error(result, f"--paper-results '{paper}' {says}")
    assert "timing" not in result.stdout and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("content", "says"), MALFORMED)
def test_a_malformed_metrics_file_given_to_the_benchmark_is_named(content, says, tmp_path):
    benchmark = load_tool("benchmark")
    path = _write(tmp_path / "m.json", content)
    with pytest.raises(RecordError, match=f"metrics file '{path}' {says}.*--metrics"):
        benchmark.read_summary(str(path))


def test_a_malformed_published_report_is_refused_before_a_run(tmp_path):
    """A run merges its results into the report under --out: a malformed one there would be
    replaced, its results lost, after the whole run; it is refused first."""
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    report = out / "evidence.json"
    report.write_text(json.dumps({"tasks": {"det2d": {"status": "ok", "runs": "many"}},
                                  "machine": {"cpu": "x"}, "options": {}}))
    result = run_tool(["tools/evidence.py", "--tasks", "det2d", "--out", str(out),
                       "--work-dir", str(work)])
    assert_clean_error(result, str(report), "has no list of metric names")
    assert not (work / "det2d").exists()
    assert json.loads(report.read_text())["tasks"]["det2d"]["runs"] == "many"  # kept


@pytest.mark.parametrize("content", ["{", "[]", '{"key": {}}', '{"key": [], "result": {}}'])
def test_a_malformed_cached_run_is_run_again_saying_why(content, tmp_path):
    from lzu.apis.evidence.records import read_cached_run

    said = []
    path = _write(tmp_path / "run.json", content)
    assert read_cached_run(str(path), said.append) is None
    assert len(said) == 1 and str(path) in said[0] and "run again" in said[0]
    assert read_cached_run(str(tmp_path / "none.json"), said.append) is None and len(said) == 1


@pytest.mark.parametrize(("manifest", "says"), [
    ("{", "is not valid JSON"),
    ({"files": {}, "mmcv_sdist": "m.tar.gz", "python": "3.12"}, "has 'files' of type dict"),
    ({"files": [{"file": "a.whl"}], "mmcv_sdist": "m.tar.gz", "python": "3.12"},
     "has a files entry 0 without its 'file', 'bytes' and 'sha256'"),
])
def test_a_malformed_pack_manifest_fails_the_pack_stage_in_one_line(manifest, says, tmp_path):
    gpu_check = load_tool("gpu_check")
    pack = tmp_path / "pack"
    pack.mkdir()
    path = _write(pack / "manifest.json",
                  manifest if isinstance(manifest, str) else json.dumps(manifest))
    with pytest.raises(RecordError, match=f"pack manifest '{path}' {says}.*gpu-pack"):
        gpu_check.read_manifest(str(pack))
