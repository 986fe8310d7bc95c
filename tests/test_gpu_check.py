"""The GPU check's dry run: tools/gpu_check.py on a machine without CUDA, and the GPU pack.

The dry run is the script the GPU machine runs (``sh run.sh gpu-check``), with its CUDA
parts skipped: its CPU half of stage 1 is checked against the paper's golden grids, the
pack (``sh run.sh gpu-pack``, git-ignored) is verified and installed for its Python when
there is one, and the report keeps the layout of a GPU run. None of this needs a GPU; the
tests that need the pack skip, with the reason, where none was built.
"""

import importlib.util
import json
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import ROOT, run_tool

PACK = osp.join(ROOT, "gpu_pack")
HAS_PACK = osp.isfile(osp.join(PACK, "manifest.json"))
NO_PACK = "no GPU pack in gpu_pack/: build it with `sh run.sh gpu-pack` (needs network)"
SCALES = ("0.25", "0.50", "0.75", "1.00")

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(),
    reason="a dry run is for machines without CUDA; on a GPU run `sh run.sh gpu-check`")


def dry_run(tmp_path, *args):
    out = tmp_path / "out"
    result = run_tool(["tools/gpu_check.py", "--out", str(out), "--scratch", str(tmp_path / "scratch"),
                       *args])
    report = json.loads((out / "gpu_check.json").read_text())
    return result, report, (out / "gpu_check.md").read_text()


def steps(report, stage):
    return {s["step"]: s for s in report["stages"][stage]["steps"]}


def test_dry_run_checks_the_cpu_half_and_skips_cuda_with_the_reason(tmp_path):
    result, report, md = dry_run(tmp_path, "--pack", str(tmp_path / "no_pack"), "--cpu-latency",
                                 "--image-size", "360", "640", "--iters", "1", "--warmup", "0")
    out = result.stdout + result.stderr
    assert report["mode"] == "dry run (no CUDA device)"
    assert report["env"]["torch"] == torch.__version__ and report["env"]["device"].startswith("cpu")

    # stage 1, grids: the plain-PyTorch tests through pytest, one row each; without CUDA the
    # CPU against the paper's grids passes and the CUDA-vs-CPU tests skip. It must pass here.
    grids = steps(report, "1")["grids"]
    assert grids["status"] == "passed", grids["detail"]
    assert "the CUDA half is skipped" in grids["detail"]
    tests = grids["pytest"]["tests"]
    golden = [n for n in tests if n.startswith("test_paper_fidelity::")]
    core = [n for n in tests if n.startswith("test_cuda_core::")]
    assert {n.split("[")[0] for n in golden} == {
        "test_paper_fidelity::test_fixed_grid_reproduces_the_papers_coarse_grid_bit_for_bit",
        "test_paper_fidelity::test_paper_border_equals_the_papers_inverse_grids"}
    assert len(golden) == 16 and all(tests[n] == "passed" for n in golden)
    for s in SCALES:
        for m in ("sep", "nonsep"):
            for b in ("exact", "paper"):
                assert tests[f"test_cuda_core::test_papers_grids_on_cuda_equal_cpu[{s}-{m}-{b}]"] == "skipped"
    assert all(tests[n] == "skipped" for n in core) and grids["pytest"]["failures"] == {}
    assert report["stages"]["1"]["status"] == "passed"

    # stage 1, latency on the CPU (asked for): every scale, uniform and LZU, zoom's share
    lat = steps(report, "1")["latency"]
    assert lat["status"] == "passed", lat["detail"]
    assert lat["latency"]["device"] == "cpu" and lat["latency"]["image"] == "640x360"
    assert [r["scale"] for r in lat["latency"]["rows"]] == [0.25, 0.5, 0.75, 1.0]
    for r in lat["latency"]["rows"]:
        assert r["uniform_ms"] > 0 and r["lzu_ms"] > 0 and r["zoom_ms"] > 0 and r["unzoom_ms"] > 0
        assert r["ratio"] == pytest.approx(r["lzu_ms"] / r["uniform_ms"])
        assert 0 < r["zoom_unzoom_share"] < 1

    # stages 2 and 3: skipped, each step with its reason
    s2 = steps(report, "2")
    assert s2["pack"]["status"] == "skipped" and "sh run.sh gpu-pack" in s2["pack"]["detail"]
    assert s2["compile"]["status"] == "skipped" and "no CUDA device" in s2["compile"]["detail"]
    assert report["stages"]["2"]["status"] == "skipped"
    s3 = steps(report, "3")
    assert set(s3) == {"pytest tests/test_cuda.py", "benchmark"}
    assert all(s["status"] == "skipped" and "no CUDA device" in s["detail"] for s in s3.values())

    # the report's layout is the GPU run's; the exit status says whether a check failed
    for line in ("# GPU check", "| stage | status | wall s | steps |", "## Stage 1: plain PyTorch",
                 "## Stage 2: pack and mmcv build", "## Stage 3: OpenMMLab on CUDA",
                 "| test | outcome |", "| scale | uniform | LZU | LZU / uniform |"):
        assert line in md, line
    assert (tmp_path / "out" / "pytest_core.log").is_file()
    assert result.returncode == 0, out[-3000:]
    assert "# GPU check" in result.stdout


def test_a_wrong_golden_file_fails_stage_1_and_the_check(tmp_path):
    """The dry run's stage 1 is a real check: one wrong pixel in the reference fails it."""
    golden = dict(np.load(osp.join(ROOT, "tests", "data", "paper_grids.npz")))
    golden["s0.25_nonsep_inv_P7"] = golden["s0.25_nonsep_inv_P7"].copy()
    golden["s0.25_nonsep_inv_P7"][0, 0, 0, 0] += 0.5
    np.savez(tmp_path / "wrong.npz", **golden)
    result, report, md = dry_run(tmp_path, "--stages", "1", "--golden", str(tmp_path / "wrong.npz"))
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    assert report["stages"]["1"]["status"] == "failed"
    grids = steps(report, "1")["grids"]
    bad = "test_paper_fidelity::test_paper_border_equals_the_papers_inverse_grids[0.25-nonsep-cpu]"
    assert grids["status"] == "failed" and bad in grids["detail"]
    assert grids["pytest"]["tests"][bad] == "failed" and bad in grids["pytest"]["failures"]
    assert list(grids["pytest"]["failures"]) == [bad]
    assert f"- {bad}: " in md


@pytest.mark.parametrize("where", ["file", "under_a_file"])
def test_an_unwritable_out_is_refused_in_one_line_before_any_work(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    out = blocker if where == "file" else blocker / "report"
    result = run_tool(["tools/gpu_check.py", "--out", str(out), "--scratch", str(tmp_path / "s")])
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gpu_check: error: --out {out} cannot be written")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "s").exists()  # refused before any work


def _fake_pack(tmp_path, size, listed_bytes):
    """A pack whose one wheel is a sparse file of ``size`` bytes (no disk used), listed in the
    manifest with ``listed_bytes``."""
    pack = tmp_path / "pack"
    pack.mkdir()
    wheel = pack / "mmdet3d-1.4.0-py3-none-any.whl"
    with open(wheel, "wb") as f:
        f.truncate(size)
    manifest = {"files": [{"file": wheel.name, "bytes": listed_bytes, "sha256": "0" * 64}],
                "mmcv_sdist": "mmcv-2.1.0.tar.gz", "python": "3.12", "platforms": ["manylinux2014_x86_64"]}
    (pack / "manifest.json").write_text(json.dumps(manifest))
    return pack, wheel.name


def test_a_pack_file_of_the_wrong_size_is_refused_without_hashing_it(tmp_path):
    pack, name = _fake_pack(tmp_path, 8 * 2**30, 1_234_567)
    result, report, _ = dry_run(tmp_path, "--pack", str(pack), "--stages", "2", "--budget-s", "5")
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    detail = steps(report, "2")["pack"]["detail"]
    assert steps(report, "2")["pack"]["status"] == "failed"
    assert f"{name} differs from the manifest (size: {8 * 2**30} bytes, the manifest says 1234567)" in detail


def test_hashing_the_pack_stops_when_the_budget_runs_out(tmp_path):
    """A file of the listed size is hashed chunk by chunk, the clock read between chunks: with a
    clock that moves one second per reading, a 5 s budget stops after a few chunks."""
    gc = _gpu_check()
    pack, name = _fake_pack(tmp_path, 3 * 2**30, 3 * 2**30)
    ticks = iter(range(10**6))
    report = gc.Report(str(tmp_path / "r"), budget_s=5, clock=lambda: float(next(ticks)))
    with pytest.raises(gc.BudgetSpent, match=rf"the budget ran out while hashing {name} \(\d+ of 3072 MiB"):
        gc.verify_pack(str(pack), report.left)
    assert next(ticks) < 20  # a handful of readings, not one per MiB of the file


@pytest.mark.skipif(not HAS_PACK, reason=NO_PACK)
def test_dry_run_verifies_and_installs_the_pack(tmp_path):
    result, report, md = dry_run(tmp_path, "--pack", PACK, "--stages", "2,3")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert report["stages"]["1"]["status"] == "not selected (--stages)"
    s2 = steps(report, "2")
    assert s2["pack"]["status"] == "passed" and "patched" in s2["pack"]["detail"]
    assert s2["install"]["status"] == "passed", s2["install"]["detail"]
    site = tmp_path / "scratch" / "site"
    for package in ("mmengine", "mmdet", "mmdet3d", "mmseg", "nuscenes", "pycocotools", "shapely",
                    "pkg_resources", "yapf", "importlib_metadata"):
        assert (site / package / "__init__.py").is_file(), package
    assert s2["compile"]["status"] == "skipped"
    assert "## Stage 2: pack and mmcv build" in md


@pytest.mark.skipif(not HAS_PACK, reason=NO_PACK)
def test_a_changed_pack_file_is_refused_by_name(tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    manifest = json.loads((pack / "manifest.json").read_text())
    victim = next(e["file"] for e in manifest["files"] if e["file"].startswith("mmdet3d-"))
    with open(pack / victim, "ab") as f:
        f.write(b"\0")
    os.remove(pack / manifest["mmcv_sdist"])
    result, report, _ = dry_run(tmp_path, "--pack", str(pack), "--stages", "2")
    assert result.returncode == 1
    s2 = steps(report, "2")
    assert s2["pack"]["status"] == "failed" and "install" not in s2
    assert f"{victim} differs from the manifest" in s2["pack"]["detail"]
    assert f"{manifest['mmcv_sdist']} is missing" in s2["pack"]["detail"]


def _gpu_pack():
    spec = importlib.util.spec_from_file_location("gpu_pack", osp.join(ROOT, "tools", "gpu_pack.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pack_list_takes_the_pins_and_refuses_unpinned_names(tmp_path):
    gpu_pack = _gpu_pack()
    pins = gpu_pack.read_pins()
    entries = gpu_pack.read_pack_list()
    names = [gpu_pack.normalize(n) for n, _, _ in entries]
    assert len(names) == len(set(names))
    got = {gpu_pack.normalize(n): (v, src) for n, v, src in entries}
    for name in ("mmengine", "mmdet", "mmdet3d", "mmsegmentation", "nuscenes-devkit"):
        assert got[name] == (pins[name], "constraints.txt")
    assert "mmcv" not in got and "torch" not in got and "numpy" not in got  # sdist / the machine's
    bad = tmp_path / "list.txt"
    bad.write_text("mmdet\nno-such-package-pin\n")
    with pytest.raises(gpu_pack.PackError, match="'no-such-package-pin' has no pin"):
        gpu_pack.read_pack_list(str(bad), pins)


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", osp.join(ROOT, "tools", "gpu_check.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_build(steps, shown=None):
    """A command printing ninja's progress ``[k/steps]`` for the first ``shown`` steps (default
    all), then exiting, or, when ``shown < steps``, waiting until it is stopped."""
    shown = steps if shown is None else shown
    code = (f"import time\nfor i in range(1, {shown} + 1):\n"
            f"    print(f'[{{i}}/{steps}] nvcc unit{{i}}.cu', flush=True)\n"
            f"if {shown} < {steps}:\n    time.sleep(3600)\n")
    return [sys.executable, "-c", code]


def _paced_clock(log, seconds_per_step):
    """A clock in which each build step printed to ``log`` so far took ``seconds_per_step``:
    the guard sees the same time on any machine, however fast the steps really run."""
    def clock():
        try:
            text = open(log, encoding="utf-8").read()
        except OSError:
            return 0.0
        steps = re.findall(r"\[(\d+)/\d+\]", text)
        return seconds_per_step * (int(steps[-1]) if steps else 0)
    return clock


def test_the_time_guard_stops_a_build_that_would_overrun_and_passes_one_that_fits(tmp_path):
    gc = _gpu_check()
    log = str(tmp_path / "a.log")
    fits = gc.Report(str(tmp_path / "a"), budget_s=gc.REPORT_RESERVE_S + 60,
                     clock=_paced_clock(log, 1.0))
    status, detail = gc.guarded_run(_fake_build(5), None, log, fits, poll_s=0.05)
    assert (status, "5/5 steps") == ("passed", detail[detail.index("(") + 1:-1])

    # the budget ends (only the report's reserve left) while it runs: stopped, progress named
    log = str(tmp_path / "b.log")
    short = gc.Report(str(tmp_path / "b"), budget_s=gc.REPORT_RESERVE_S + 1.5,
                      clock=_paced_clock(log, 1.0))
    status, detail = gc.guarded_run(_fake_build(400, 3), None, log, short, poll_s=0.05)
    assert status == "timeout" and "the budget ran out" in detail
    done, total = (int(v) for v in re.search(r"at (\d+)/(\d+) steps", detail).groups())
    assert total == 400 and 0 < done < 400

    # --stop-if-overrun: stopped as soon as its pace shows it cannot finish, budget left over
    log = str(tmp_path / "c.log")
    early = gc.Report(str(tmp_path / "c"), budget_s=gc.REPORT_RESERVE_S + 50,
                      clock=_paced_clock(log, 1.0))
    status, detail = gc.guarded_run(_fake_build(100, 10), None, log, early, stop_if_overrun=True,
                                    poll_s=0.05)
    assert status == "timeout" and "it would overrun" in detail and early.left() > gc.REPORT_RESERVE_S

    status, detail = gc.guarded_run([sys.executable, "-c", "print('[1/2] x'); raise SystemExit(3)"],
                                    None, str(tmp_path / "d.log"), fits, poll_s=0.05)
    assert status == "failed" and "exited 3" in detail and "[1/2] x" in detail


def test_benchmark_rows_join_this_run_with_the_papers_numbers(tmp_path):
    gc = _gpu_check()
    rows = []
    for scale in (0.25, 0.5, 0.75, 1.0):
        for family, ms in (("uniform", 40.0 * scale), ("lzu", 41.0 * scale)):
            rows.append({"family": family, "scale": scale, "latency_ms": ms, "latency_p90_ms": ms + 1,
                         "zoom_ms": 0.5 if family == "lzu" else 0.0})
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps({"rows": rows}))
    paper = json.loads(open(osp.join(ROOT, "docs", "paper_results.json")).read())
    got = gc.benchmark_rows(str(path))
    assert [r["scale"] for r in got] == paper["scales"]
    for r, pu, pz in zip(got, paper["uniform"], paper["lzu"], strict=True):
        assert r["ratio"] == pytest.approx(41.0 / 40.0) and r["zoom_ms"] == 0.5
        assert (r["paper_uniform_ms"], r["paper_lzu_ms"]) == (pu[0], pz[0])
        assert r["paper_ratio"] == pytest.approx(pz[0] / pu[0])


def test_junit_outcomes_name_each_test(tmp_path):
    gc = _gpu_check()
    xml = tmp_path / "r.xml"
    xml.write_text('<testsuites><testsuite><testcase classname="tests.test_cuda" name="test_a"/>'
                   '<testcase classname="tests.test_cuda" name="test_b"><failure message="x"/></testcase>'
                   '<testcase classname="tests.test_cuda" name="test_c"><skipped/></testcase>'
                   '</testsuite></testsuites>')
    assert gc.junit_outcomes(str(xml)) == {"test_cuda::test_a": "passed", "test_cuda::test_b": "failed",
                                           "test_cuda::test_c": "skipped"}


def test_a_terminated_check_leaves_its_report(tmp_path):
    """The caller's timeout (SIGTERM) mid-stage: the report says so and keeps the steps done."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=ROOT)  # this checkout's lzu, as run.sh and run_tool
    proc = subprocess.Popen([sys.executable, "tools/gpu_check.py", "--out", str(out), "--scratch",
                             str(tmp_path / "s"), "--stages", "1", "--cpu-latency", "--iters", "1000"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    while proc.poll() is None:  # wait for stage 1's first step (however long the machine takes)
        if (out / "gpu_check.json").is_file() and "grids" in (out / "gpu_check.json").read_text():
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate()
    assert proc.returncode == 124, text[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["interrupted"].startswith("SIGTERM")
    assert report["stages"]["1"]["status"] == "interrupted"
    assert [s["step"] for s in report["stages"]["1"]["steps"]] == ["grids"]
    assert "**interrupted**: SIGTERM" in (out / "gpu_check.md").read_text()
