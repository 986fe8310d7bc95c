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
import shutil

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

    # stage 1, grids: 4 scales x 2 samplers x 2 borders, the CPU against the paper's grids
    grids = steps(report, "1")["grids"]
    rows = grids["grids"]
    assert [(r["scale"], r["mode"], r["border"]) for r in rows] == [
        (s, m, b) for s in SCALES for m in ("sep", "nonsep") for b in ("exact", "paper")]
    golden = np.load(osp.join(ROOT, "tests", "data", "paper_grids.npz"))
    from lzu.core.fixed_grid import FixedGrid
    from lzu.core.unzoom import invert_grid

    for r in rows:
        assert r["cuda_vs_cpu"] is None and r["coarse_equal_cuda"] is None
        ref = torch.from_numpy(golden[f"s{r['scale']}_{r['mode']}_grid"])
        shape = tuple(int(v) for v in golden[f"s{r['scale']}_output_shape"])
        coarse = FixedGrid(osp.join(ROOT, "saliency.pkl"), shape, separable=r["mode"] == "sep").grids("cpu")[1]
        assert r["coarse_equal_cpu"] == torch.equal(coarse, ref)
        if r["border"] == "paper":
            level = tuple(int(v) for v in golden[f"s{r['scale']}_level_shapes"][-1])
            err = (invert_grid(coarse, level, separable=r["mode"] == "sep", border="paper")
                   - torch.from_numpy(golden[f"s{r['scale']}_{r['mode']}_inv_P7"])).abs().max().item()
            assert r["paper_inverse_err_cpu"] >= err  # the maximum over the five levels
        else:
            assert r["paper_inverse_err_cpu"] is None
        assert r["ok"] == (r["coarse_equal_cpu"] and (r["paper_inverse_err_cpu"] or 0.0) <= 1e-6)
    assert grids["status"] == ("passed" if all(r["ok"] for r in rows) else "failed")
    assert "the CUDA half is skipped" in grids["detail"]

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
                 "| scale | sampler | border |", "| scale | uniform | LZU | LZU / uniform |"):
        assert line in md, line
    failed = any(s["status"] in ("failed", "timeout") for s in report["stages"].values())
    assert result.returncode == (1 if failed else 0), out[-3000:]
    assert "# GPU check" in result.stdout


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
