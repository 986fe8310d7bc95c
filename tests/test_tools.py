"""The user-facing tools: their spine (each a thin entry point over library code, the bootstrap
first, no tool importing another, no import-path edits), and their runs end to end: benchmarks,
zoom visualisation, `run.sh demo`."""

import ast
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from conftest import ROOT, run_tool
from PIL import Image

TOOL_FILES = sorted(glob.glob(osp.join(ROOT, "tools", "*.py")))
TOOL_NAMES = {osp.splitext(osp.basename(p))[0] for p in TOOL_FILES}


def _source(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def bootstrap_problem(source):
    """Why ``source`` does not start with the bootstrap (None when it does): after its
    docstring, ``from lzu.infra.bootstrap import bootstrap`` and then
    ``if __name__ == "__main__": bootstrap()``, before any other statement."""
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) < 2:
        return "too short to hold the bootstrap"
    first, second = body[0], body[1]
    if not (isinstance(first, ast.ImportFrom) and first.module == "lzu.infra.bootstrap"
            and [a.name for a in first.names] == ["bootstrap"]):
        return "its first statement is not `from lzu.infra.bootstrap import bootstrap`"
    call = second.body[0] if isinstance(second, ast.If) and second.body else None
    if not (isinstance(second, ast.If) and ast.unparse(second.test) == "__name__ == '__main__'"
            and isinstance(call, ast.Expr) and ast.unparse(call.value) == "bootstrap()"):
        return "its second statement is not `if __name__ == \"__main__\": bootstrap()`"
    return None


def imported_tools(source, tools=TOOL_NAMES):
    """The names of tools (or former tool helpers, ``_*``) that ``source`` imports: by an import
    statement, ``importlib.import_module`` / ``__import__`` of a constant, or a file path
    under ``tools/`` given to ``spec_from_file_location``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            args = [a.value for a in node.args if isinstance(a, ast.Constant)
                    and isinstance(a.value, str)]
            if func.endswith(("import_module", "__import__")):
                names = args
            elif func.endswith("spec_from_file_location") and any("tools" in a for a in args):
                names = ["<a file under tools/>"]
        for name in names:
            top = name.split(".")[0]
            if top in tools or top.startswith("_") or name.startswith("<"):
                found.append(name)
    return found


def edits_import_path(source):
    """Lines of ``source`` that touch ``sys.path`` or ``site`` (the import path)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        text = ast.unparse(node) if isinstance(node, ast.Attribute | ast.Call) else ""
        if isinstance(node, ast.Attribute) and text == "sys.path":
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and text.startswith("site.addsitedir"):
            lines.append(node.lineno)
    return lines


def noqa_e402(source):
    return [i for i, line in enumerate(source.splitlines(), 1) if "noqa: E402" in line]


def test_every_tool_calls_the_bootstrap_first():
    """CPU defaults (OpenMP passive, threads from the usable cores) and the one-line full-disk
    report are set before anything loads torch, in every tool."""
    assert len(TOOL_FILES) >= 15
    for path in TOOL_FILES:
        assert bootstrap_problem(_source(path)) is None, \
            f"{path}: {bootstrap_problem(_source(path))}"


def test_no_tool_imports_another_tool_or_edits_the_import_path():
    """What tools share is library code (lzu/apis); which lzu runs is the environment's
    (the editable install, or PYTHONPATH as run.sh and the tests set it)."""
    for path in TOOL_FILES:
        source = _source(path)
        assert imported_tools(source) == [], f"{path} imports {imported_tools(source)}"
        assert edits_import_path(source) == [], f"{path}:{edits_import_path(source)} edits sys.path"
        assert noqa_e402(source) == [], f"{path}:{noqa_e402(source)} has a noqa: E402"
    assert not [p for p in TOOL_FILES if osp.basename(p).startswith("_")], \
        "a helper module in tools/ (tools hold entry points only; helpers are library code)"


def test_the_spine_checks_catch_planted_violations():
    good = ('"""A tool."""\n\nfrom lzu.infra.bootstrap import bootstrap\n\n'
            'if __name__ == "__main__":\n    bootstrap()\n\nimport torch\n')
    assert bootstrap_problem(good) is None
    assert "first statement" in bootstrap_problem('"""A tool."""\nimport torch\n'
                                                  'from lzu.infra.bootstrap import bootstrap\n')
    assert "second statement" in bootstrap_problem(
        '"""A tool."""\nfrom lzu.infra.bootstrap import bootstrap\nimport torch\nbootstrap()\n')
    assert imported_tools(good) == []
    assert imported_tools("from demo import run\n") == ["demo"]
    assert imported_tools("import _evidence_stats\n") == ["_evidence_stats"]
    assert imported_tools("import importlib\nm = importlib.import_module('make_saliency')\n") \
        == ["make_saliency"]
    assert imported_tools("s = spec_from_file_location('g', 'tools/gpu_check.py')\n") \
        == ["<a file under tools/>"]
    assert edits_import_path("import sys\nsys.path.insert(0, 'tools')\n") == [2]
    assert edits_import_path("import site\nsite.addsitedir('x')\n") == [2]
    assert noqa_e402("import a\nx = 1\nimport b  # noqa: E402\n") == [3]


def test_a_tool_started_as_a_child_imports_this_checkouts_lzu(tmp_path):
    """Demo steps, evidence workers and an experiment's train and test run with this checkout's
    root first on PYTHONPATH, whichever lzu the environment has installed."""
    from lzu.apis.checkout import ROOT as CHECKOUT
    from lzu.apis.checkout import child_env

    env = child_env({"PYTHONPATH": f"{tmp_path}{os.pathsep}{CHECKOUT}", "HOME": str(tmp_path)})
    assert env["PYTHONPATH"].split(os.pathsep) == [CHECKOUT, str(tmp_path)]
    assert env["HOME"] == str(tmp_path)
    (tmp_path / "lzu").mkdir()
    (tmp_path / "lzu" / "__init__.py").write_text("raise ImportError('another lzu')\n")
    shadowed = {**os.environ, "PYTHONPATH": str(tmp_path)}
    probe = [sys.executable, "-c", "import lzu, os; print(os.path.dirname(lzu.__file__))"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    child = subprocess.run(probe, env=child_env(shadowed), cwd=elsewhere, capture_output=True,
                           text=True)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == osp.join(CHECKOUT, "lzu")


def test_run_sh_help_lists_commands_and_experiments():
    result = subprocess.run(["sh", "run.sh", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0
    for word in ("test", "demo", "lzu_fcos3d_0.75", "fcos3d_1.00", "GPUS", "DATA_ROOT", "WORK_DIR"):
        assert word in result.stdout


def test_core_benchmark_reports_every_scale_and_mode(tmp_path):
    out = tmp_path / "core.json"
    result = run_tool(["tools/benchmark_zoom.py", "--repeats", "1", "--json", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["scale"], r["mode"]) for r in rows] == [
        (s, m) for s in (0.25, 0.5, 0.75, 1.0) for m in ("separable", "non-separable")
    ]
    for r in rows:
        assert all(r[k] > 0 for k in ("grid_ms", "invert_ms", "zoom_ms", "unzoom_ms"))
    # the cached grids of a larger scale take more memory
    assert rows[-1]["cached_grids_mb"] > rows[0]["cached_grids_mb"]


def test_core_benchmark_measures_the_adaptive_per_frame_cost(tmp_path):
    out = tmp_path / "adaptive.json"
    result = run_tool(["tools/benchmark_zoom.py", "--adaptive", "--repeats", "1", "--threads", "2",
                       "--json", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(out.read_text())["adaptive"]
    assert row["scale"] == 0.5 and row["boxes"] == 20
    assert row["adaptive_grid_ms"] > 0 and row["resnet50_fpn_ms"] > 0
    assert row["share"] == row["adaptive_grid_ms"] / row["resnet50_fpn_ms"]
    assert "share" in result.stdout


def test_visualize_zoom_writes_a_png(synthetic_root, tmp_path):
    saliency = tmp_path / "s.pkl"
    made = run_tool(["tools/make_saliency.py", "--infos",
                     f"{synthetic_root}/nuscenes_infos_train.pkl", "--out", str(saliency)])
    assert made.returncode == 0, made.stderr[-2000:]
    out = tmp_path / "vis.png"
    result = run_tool(["tools/visualize_zoom.py", "configs/demo/lzu_fcos3d_demo.py", "--data-root",
                       synthetic_root, "--out", str(out), "--features", "--cfg-options",
                       f"model.grid_generator.saliency_file={saliency}"])
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 800 and im.size[1] > 800


def test_visualize_zoom_rejects_a_config_without_zoom(tmp_path):
    result = run_tool(["tools/visualize_zoom.py", "configs/fcos3d_0.50.py", "--image", "x.jpg"])
    assert result.returncode != 0 and "no FixedGrid grid_generator" in result.stderr


@pytest.mark.slow
def test_demo_runs_the_whole_path_and_writes_its_outputs(tmp_path):
    """`sh run.sh demo` in miniature: 2 iterations per model on a tiny set."""
    work = tmp_path / "demo"
    result = run_tool(["tools/demo.py", "--work-dir", str(work), "--iters", "2", "--scenes", "2",
                       "1", "--samples", "2", "--bench-iters", "1"])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    results = json.loads((work / "demo_results.json").read_text())["results"]
    assert set(results) == {"uniform", "LZU"}
    for r in results.values():
        assert set(r) >= {"NDS", "mAP", "mATE", "mASE", "mAOE", "mAVE", "mAAE", "ms_per_image"}
        assert 0.0 <= r["NDS"] <= 1.0 and r["ms_per_image"] > 0
    table = (work / "demo_results.md").read_text()
    assert "| uniform |" in table and "| LZU |" in table
    bench = json.loads((work / "benchmark" / "benchmark.json").read_text())
    assert [r["family"] for r in bench["rows"]] == ["uniform", "lzu"]
    assert "0.25" in bench["lzu_overhead"]
    for png in (work / "benchmark" / "accuracy_latency.png", work / "zoom_visualization.png"):
        with Image.open(png) as im:
            assert im.format == "PNG"


TINY = ["model.backbone.init_cfg=None", "model.backbone.depth=18", "model.backbone.dcn=None",
        "model.backbone.stage_with_dcn=(False,False,False,False)",
        "model.neck.in_channels=[64,128,256,512]", "train_cfg.max_epochs=1",
        "train_dataloader.batch_size=4", "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False", "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
        *[f"{s}_dataloader.dataset.metainfo.version=v1.0-mini" for s in ("train", "val", "test")]]


@pytest.mark.slow
def test_run_sh_experiment_builds_saliency_trains_and_evaluates(synthetic_root, tmp_path):
    """`sh run.sh lzu_fcos3d_0.25` on the tiny set, shrunk to ResNet-18 for one epoch."""
    saliency = tmp_path / "saliency.pkl"
    env = dict(os.environ, LZU_PYTHON=sys.executable, DATA_ROOT=synthetic_root,
               WORK_DIR=str(tmp_path / "work"), SALIENCY=str(saliency), PYTHONWARNINGS="ignore")
    result = subprocess.run(["sh", "run.sh", "lzu_fcos3d_0.25", "--cfg-options", *TINY], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "is missing: building it" in out and saliency.is_file()
    assert "no ckpt/lzu_fcos3d_0.25.pth" in out
    assert "1/3" in out and "2/3" in out and "3/3" in out
    work = tmp_path / "work" / "lzu_fcos3d_0.25"
    summary = json.loads((work / "metrics_epoch_1.json").read_text())["summary"]
    assert set(summary) == {"NDS", "mAP", "mATE", "mASE", "mAOE", "mAVE", "mAAE"}
