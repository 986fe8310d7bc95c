"""The GPU check: the CUDA path of lzu, proven in one call on a GPU machine, in stages.

    python tools/gpu_check.py [--out DIR] [--pack gpu_pack] [--budget-s 540] [--stages 1,2,3]
    (sh run.sh gpu-check [ARGS])

Stage 1, plain PyTorch (lzu.core, torch, torchvision and pytest; no OpenMMLab):
  * grids: ``pytest tests/test_cuda_core.py`` (zoom grids, zoom, inverse grids and unzoom at
    the paper's scales on CUDA against the CPU) and the golden-grid tests of
    tests/test_paper_fidelity.py (coarse and paper-border inverse grids against the paper's,
    tests/data/paper_grids.npz, or ``--golden``), each test a row of the report;
  * latency: ``lzu.apis.fpn_latency`` (also ``tools/benchmark_zoom.py --fpn``): torchvision's
    ResNet-50-FPN, uniform vs LZU per scale, interleaved, CUDA synchronised around every call.
Stage 2, the stack: verify the pack (``sh run.sh gpu-pack``: the size, then the sha256 of
  every file, within the budget; mmcv's sdist patched), install its wheels into a scratch
  folder, compile mmcv's ops for this GPU only (TORCH_CUDA_ARCH_LIST from the device, MAX_JOBS = cores), import the stack. On a
  machine whose Python is not the pack's (3.12), the wheels are only checked, and this
  environment's stack is used (build it with LZU_CUDA_OPS=1 bash mmdetection3d/install.sh).
Stage 3, OpenMMLab on CUDA: ``pytest tests/test_cuda.py``, and tools/benchmark.py on the
  eight paper configs (batch 1, interleaved, fake inputs) with LZU/uniform per scale next
  to the paper's numbers (docs/paper_results.json).

Every stage reports even when a later one fails: ``gpu_check.json`` and ``gpu_check.md`` in
``--out`` are rewritten after every step, plus build.log, pytest_core.log, pytest.log and
benchmark/.
Time guard: the whole run keeps to ``--budget-s`` seconds. The mmcv compile stops when
only the report's time is left (``--stop-if-overrun``: as soon as its progress shows it
cannot finish); its objects stay in ``--scratch``, so a second call on the same machine
resumes the compile rather than restarting it. Without a CUDA device (a dry run, as the
tests do) the CUDA parts are skipped with the reason and the report keeps its layout.
Exit status 1 when a check failed, 2 when ``--out`` or ``--scratch`` cannot be written
(checked before any work), else 0.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import argparse
import hashlib
import json
import os
import os.path as osp
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET

import numpy as np
import torch

from lzu.apis.fpn_latency import latency_table, measure_fpn_latency
from lzu.infra.atomic_io import (
    atomic_open,
    atomic_write_bytes,
    atomic_write_json,
    check_not_link,
    hold_root,
    open_nofollow,
)
from lzu.infra.cli import run_main
from lzu.infra.records import RecordError, read_json_record, record_error

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

GOLDEN = osp.join(ROOT, "tests", "data", "paper_grids.npz")
PAPER = osp.join(ROOT, "docs", "paper_results.json")
BUILD_SH = osp.join(ROOT, "mmdetection3d", "mmcv_build.sh")
SCALES = ("0.25", "0.50", "0.75", "1.00")
PAPER_CONFIGS = [f"configs/{family}fcos3d_{s}.py" for family in ("", "lzu_") for s in SCALES]
#: stage 1's tests: plain PyTorch on CUDA vs the CPU, and the grids against the paper's
CORE_TESTS = ["tests/test_cuda_core.py",
              "tests/test_paper_fidelity.py::test_fixed_grid_reproduces_the_papers_coarse_grid_bit_for_bit",
              "tests/test_paper_fidelity.py::test_paper_border_equals_the_papers_inverse_grids"]
#: seconds kept for writing the report when a step is cut short
REPORT_RESERVE_S = 15.0
#: logs kept in the report folder are cut to their last bytes, so the folder stays small
LOG_TAIL_BYTES = 256 * 1024
STAGES = {"1": "plain PyTorch", "2": "pack and mmcv build", "3": "OpenMMLab on CUDA"}


# ----------------------------------------------------------------------------- report
class Report:
    """The run's results; ``write`` rewrites gpu_check.json and gpu_check.md atomically.

    ``clock`` (seconds, default ``time.monotonic``) is what the budget is counted in.
    """

    def __init__(self, out, budget_s, clock=time.monotonic):
        self.out = out
        self.clock = clock
        self.t0 = clock()
        self.deadline = self.t0 + budget_s
        self.data = {
            "tool": "tools/gpu_check.py",
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "budget_s": budget_s, "wall_s": 0.0, "env": environment(),
            "stages": {k: {"name": v, "status": "not run", "steps": []} for k, v in STAGES.items()},
        }
        self.data["mode"] = "GPU" if torch.cuda.is_available() else "dry run (no CUDA device)"
        os.makedirs(out, exist_ok=True)

    def left(self):
        return self.deadline - self.clock()

    def stage(self, key):
        return self.data["stages"][key]

    def step(self, key, name, status, detail, **figures):
        entry = {"step": name, "status": status, "detail": detail, **figures}
        self.stage(key)["steps"].append(entry)
        print(f"[gpu-check] stage {key} / {name}: {status}: {detail}", flush=True)
        self.write()
        return entry

    def finish_stage(self, key, started):
        stage = self.stage(key)
        statuses = [s["status"] for s in stage["steps"]]
        for status in ("failed", "timeout", "passed"):  # passed: every step that ran passed
            if status in statuses:
                stage["status"] = status
                break
        else:
            stage["status"] = "skipped"
        stage["wall_s"] = round(self.clock() - started, 1)
        self.write()

    def write(self):
        self.data["wall_s"] = round(self.clock() - self.t0, 1)
        atomic_write_json(osp.join(self.out, "gpu_check.json"), self.data)
        with atomic_open(osp.join(self.out, "gpu_check.md"), "w", encoding="utf-8") as f:
            f.write(markdown(self.data))

    def failed(self):
        return any(s["status"] in ("failed", "timeout", "interrupted")
                   for s in self.data["stages"].values())


def _run(cmd, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def find_nvcc():
    """nvcc on PATH, else the CUDA toolkit's usual place (put on PATH for the build)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None and osp.isfile("/usr/local/cuda/bin/nvcc"):
        os.environ["PATH"] = os.pathsep.join(["/usr/local/cuda/bin", os.environ.get("PATH", "")])
        nvcc = shutil.which("nvcc")
    return nvcc


def environment():
    env = {
        "python": platform.python_version(), "torch": torch.__version__,
        "torch_cuda": torch.version.cuda, "numpy": np.__version__, "cpus": os.cpu_count(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "nvcc": None, "device": "cpu (no CUDA device)", "capability": None, "driver": None,
    }
    nvcc = _run(["nvcc", "--version"]) if find_nvcc() else None
    if nvcc:
        m = re.search(r"release ([0-9.]+)", nvcc)
        env["nvcc"] = m.group(1) if m else nvcc.splitlines()[-1]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env["device"] = torch.cuda.get_device_name(0)
        env["capability"] = "{}.{}".format(*torch.cuda.get_device_capability(0))
        env["multiprocessors"] = props.multi_processor_count
        env["memory_gib"] = round(props.total_memory / 2**30, 1)
        if shutil.which("nvidia-smi"):
            env["driver"] = _run(["nvidia-smi", "--query-gpu=driver_version",
                                  "--format=csv,noheader"])
    return env


def _fmt(v, fmt="{:.2f}"):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return fmt.format(v)
    return str(v)


def markdown(data):
    e = data["env"]
    device = e["device"] + (f" (sm_{e['capability'].replace('.', '')}, "
                            f"{e.get('multiprocessors')} SMs, {e.get('memory_gib')} GiB, "
                            f"driver {e.get('driver')})" if e["capability"] else "")
    lines = [
        "# GPU check", "",
        f"- run: {data['started_utc']}, {data['wall_s']:.0f} s of a {data['budget_s']:.0f} s "
        f"budget; mode: {data['mode']}",
        f"- device: {device}",
        f"- torch {e['torch']} (CUDA {e['torch_cuda']}, cuDNN {e['cudnn']}), Python "
        f"{e['python']}, numpy {e['numpy']}, nvcc {e['nvcc']}, {e['cpus']} CPUs; fp32, "
        f"cuDNN TF32 {e['cudnn_allow_tf32']}, matmul TF32 {e['matmul_allow_tf32']}, "
        f"cudnn.benchmark {e['cudnn_benchmark']}",
        "", "| stage | status | wall s | steps |", "|---|---|---|---|",
    ]
    if data.get("interrupted"):
        lines.insert(5, f"- **interrupted**: {data['interrupted']}")
    for key, st in data["stages"].items():
        steps = "; ".join(f"{s['step']}: {s['status']}" for s in st["steps"]) or "–"
        lines.append(f"| {key} {st['name']} | **{st['status']}** | {_fmt(st.get('wall_s'), '{:.1f}')} "
                     f"| {steps} |")
    for key, st in data["stages"].items():
        lines += ["", f"## Stage {key}: {st['name']}", ""]
        if not st["steps"]:
            lines.append(f"{st['status']}.")
        for s in st["steps"]:
            lines.append(f"- **{s['step']}**: {s['status']}: {s['detail']}")
        for s in st["steps"]:
            lines += _tables(s)
    return "\n".join(lines) + "\n"


def _tables(step):
    out = []
    if step.get("latency"):
        out += [""] + latency_table(step["latency"])
    if step.get("pytest"):
        t = step["pytest"]
        out += ["", "| test | outcome |", "|---|---|"]
        out += [f"| {name} | {outcome} |" for name, outcome in t["tests"].items()]
        out += [f"- {name}: {message}" for name, message in t.get("failures", {}).items()]
    if step.get("benchmark"):
        out += ["", "FCOS3D R50-DCN (the eight paper configs, random weights, fake inputs), batch "
                "1, interleaved; the paper's latency read off its figure (±0.3 ms).", "",
                "| scale | uniform ms (p90) | LZU ms (p90) | LZU / uniform | zoom+unzoom ms | paper "
                "uniform ms | paper LZU ms | paper LZU / uniform |", "|---|---|---|---|---|---|---|---|"]
        for r in step["benchmark"]:
            out.append(f"| {r['scale']} | {_fmt(r['uniform_ms'], '{:.1f}')} ({_fmt(r['uniform_p90_ms'], '{:.1f}')}) "
                       f"| {_fmt(r['lzu_ms'], '{:.1f}')} ({_fmt(r['lzu_p90_ms'], '{:.1f}')}) | "
                       f"{_fmt(r['ratio'], '{:.3f}')} | {_fmt(r['zoom_ms'], '{:.2f}')} | "
                       f"{_fmt(r['paper_uniform_ms'], '{:.1f}')} | {_fmt(r['paper_lzu_ms'], '{:.1f}')} | "
                       f"{_fmt(r['paper_ratio'], '{:.3f}')} |")
    return out


# ------------------------------------------------------------------- stage 1: PyTorch
def stage1(report, args):
    cuda = torch.cuda.is_available()
    started = report.clock()
    env = dict(stack_env([]), LZU_PAPER_GRIDS=args.golden)
    budget = report.left() - REPORT_RESERVE_S
    pytest_step(report, "1", "grids", CORE_TESTS, env, args, "pytest_core", budget,
                "" if cuda else "CPU only: no CUDA device, the CUDA half is skipped; ")
    if not cuda and not args.cpu_latency:
        report.step("1", "latency", "skipped",
                    "no CUDA device: the latency claim is a GPU claim (--cpu-latency times the CPU)")
    elif report.left() < REPORT_RESERVE_S + 30:
        report.step("1", "latency", "timeout", f"only {report.left():.0f} s of the budget left")
    else:
        t = time.monotonic()
        device = torch.device("cuda" if cuda else "cpu")
        try:
            lat = measure_fpn_latency(device, tuple(args.image_size), [float(s) for s in SCALES],
                                      args.warmup, args.iters)
            ratios = ", ".join(f"{r['scale']:g}x {r['ratio']:.3f}" for r in lat["rows"])
            share = ", ".join(f"{r['scale']:g}x {100 * r['zoom_unzoom_share']:.1f} %" for r in lat["rows"])
            report.step("1", "latency", "passed", f"LZU/uniform {ratios}; zoom+unzoom share of LZU "
                        f"{share} ({time.monotonic() - t:.1f} s)", latency=lat)
        except Exception as err:  # noqa: BLE001
            report.step("1", "latency", "failed", f"{type(err).__name__}: {err}")
    report.finish_stage("1", started)


# ------------------------------------------------------------------- stage 2: the stack
class BudgetSpent(Exception):
    """The budget ran out in the middle of a step; the message says where."""


def sha256_within(path, left, chunk=1 << 20):
    """sha256 of ``path``, read in chunks; ``BudgetSpent`` (naming the file) as soon as
    ``left()`` (seconds of the budget left) is not positive between two chunks."""
    digest, done, size = hashlib.sha256(), 0, os.path.getsize(path)
    with open(path, "rb") as f:
        while True:
            if left() <= 0:
                raise BudgetSpent(f"the budget ran out while hashing {osp.basename(path)} "
                                  f"({done / 2**20:.0f} of {size / 2**20:.0f} MiB read)")
            block = f.read(chunk)
            if not block:
                return digest.hexdigest()
            digest.update(block)
            done += len(block)


def read_manifest(pack):
    """The pack's ``manifest.json`` (written by tools/gpu_pack.py), its shape checked: a
    malformed one is one ``RecordError`` naming it."""
    path = osp.join(pack, "manifest.json")
    fix = "rebuild the pack with `sh run.sh gpu-pack`"
    manifest = read_json_record(path, "pack manifest", fix,
                                {"files": list, "mmcv_sdist": str, "python": str})
    for i, entry in enumerate(manifest["files"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("file"), str)
                and isinstance(entry.get("sha256"), str) and isinstance(entry.get("bytes"), int)
                and not isinstance(entry["bytes"], bool)):
            raise record_error(path, "pack manifest", f"has a files entry {i} without its "
                               "'file', 'bytes' and 'sha256'", fix)
    return manifest


def verify_pack(pack, left=lambda: float("inf")):
    """``(manifest, problems)``: every listed file present with its size, then its sha256
    (hashed within ``left``, see ``sha256_within``), and mmcv's sdist patched."""
    manifest = read_manifest(pack)
    problems, sized = [], []
    for entry in manifest["files"]:  # sizes first: a wrong file is refused without reading it
        path = osp.join(pack, entry["file"])
        if not osp.isfile(path):
            problems.append(f"{entry['file']} is missing")
        elif osp.getsize(path) != entry["bytes"]:
            problems.append(f"{entry['file']} differs from the manifest (size: {osp.getsize(path)} "
                            f"bytes, the manifest says {entry['bytes']})")
        else:
            sized.append((entry, path))
    if problems:
        return manifest, problems
    for entry, path in sized:
        if sha256_within(path, left) != entry["sha256"]:
            problems.append(f"{entry['file']} differs from the manifest (sha256)")
    sdist = osp.join(pack, manifest["mmcv_sdist"])
    if osp.isfile(sdist) and not problems:
        with tarfile.open(sdist) as tar:
            member = next((m for m in tar.getmembers() if re.fullmatch(r"[^/]+/setup\.py", m.name)), None)
            text = tar.extractfile(member).read().decode() if member else ""
        if "-std=c++20" not in text or "-std=c++17" in text:
            problems.append(f"{manifest['mmcv_sdist']}: setup.py is not patched (patch_mmcv)")
    return manifest, problems


def install_wheels(manifest, pack, site):
    """pip-install the pack's wheels (for the pack's Python and platform) into ``site``."""
    key = hashlib.sha256(json.dumps([e["sha256"] for e in manifest["files"]]).encode()).hexdigest()[:16]
    marker = osp.join(site, f".lzu-pack-{key}")
    check_not_link(site, "scratch folder")  # pip would install into the link's target
    if osp.isfile(marker):
        return "already installed (same pack)"
    if osp.lexists(site):
        shutil.rmtree(site)
    wheels = [osp.join(pack, e["file"]) for e in manifest["files"] if e["file"].endswith(".whl")]
    tags = ["--python-version", manifest["python"], "--implementation", "cp",
            "--abi", "cp" + manifest["python"].replace(".", "")]
    for p in manifest["platforms"]:
        tags += ["--platform", p]
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "-q",
           "--no-index", "--no-deps", "--no-compile", "--no-cache-dir", "--target", site,
           *tags, *wheels]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip install of the pack failed:\n{(result.stdout + result.stderr)[-3000:]}")
    atomic_write_bytes(marker, b"")
    return f"{len(wheels)} wheels installed"


def extract_sdist(manifest, pack, scratch):
    """mmcv's source in ``scratch``, extracted once per sdist (kept mtimes let ninja resume)."""
    entry = next(e for e in manifest["files"] if e["file"] == manifest["mmcv_sdist"])
    marker = osp.join(scratch, f".mmcv-src-{entry['sha256'][:16]}")
    with tarfile.open(osp.join(pack, manifest["mmcv_sdist"])) as tar:
        top = tar.getmembers()[0].name.split("/")[0]
        src = osp.join(scratch, top)
        check_not_link(src, "scratch folder")  # the sources and the build would land in its target
        if not osp.isfile(marker):
            if osp.lexists(src):
                shutil.rmtree(src)
            tar.extractall(scratch, filter="data")
            atomic_write_bytes(marker, b"")
    return src


NINJA_PROGRESS = re.compile(r"\[(\d+)/(\d+)\]")


class Interrupted(BaseException):
    """SIGTERM/SIGINT (e.g. the caller's timeout): stop, end the children, write the report."""


def _interrupt(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def _end(proc):
    """End ``proc``'s whole process group (it was started in a session of its own)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _progress(log_path):
    with open(log_path, encoding="utf-8", errors="replace") as f:
        f.seek(max(0, osp.getsize(log_path) - 4096))
        hits = NINJA_PROGRESS.findall(f.read())
    return tuple(int(v) for v in hits[-1]) if hits else (0, 0)


def guarded_run(cmd, env, log_path, report, stop_if_overrun=False, poll_s=2.0):
    """Run a build printing ninja's ``[k/N]`` progress under the time guard.

    It is stopped when only ``REPORT_RESERVE_S`` of the budget is left, or, with
    ``stop_if_overrun``, once a tenth of its steps (at least 8) show that it cannot finish in
    time. Returns ``(status, detail)``: passed, failed (with the log's tail) or timeout.
    """
    started = report.clock()
    why = None
    with open_nofollow(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            while proc.poll() is None:
                time.sleep(poll_s)
                done, total = _progress(log_path)
                elapsed = report.clock() - started
                if report.left() < REPORT_RESERVE_S:
                    why = "the budget ran out"
                elif stop_if_overrun and total and done >= max(8, total // 10):
                    projected = elapsed * total / done
                    if projected - elapsed > report.left() - REPORT_RESERVE_S:
                        why = f"it would overrun (projected {projected:.0f} s in all)"
                if why:
                    break
        finally:
            _end(proc)
    elapsed = report.clock() - started
    done, total = _progress(log_path)
    progress = f"{done}/{total} steps" if total else "no ninja progress seen"
    if why:
        return "timeout", f"stopped after {elapsed:.0f} s at {progress}: {why}"
    if proc.returncode != 0:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            tail = f.read()[-1500:]
        return "failed", f"exited {proc.returncode} after {elapsed:.0f} s ({progress}); log tail:\n{tail}"
    return "passed", f"done in {elapsed:.0f} s ({progress})"


def compile_mmcv(report, src, env, log_path, stop_if_overrun):
    """``python setup.py build_ext --inplace`` in ``src`` under the time guard."""
    cmd = ["sh", "-c", '. "$1" && mmcv_cuda_env "$2" && cd "$3" && exec "$2" setup.py build_ext --inplace',
           "sh", BUILD_SH, sys.executable, src]
    status, detail = guarded_run(cmd, env, log_path, report, stop_if_overrun)
    if status == "timeout":
        detail += ("; the compiled objects stay in the scratch folder: a second call on this "
                   "machine (--stages 2,3) resumes the compile")
    return status, f"build_ext {detail}"


PROBE = r"""
import json, mmcv, mmengine, mmdet, mmdet3d, mmseg, nuscenes, numpy, torch
import mmcv.ops, mmseg.models, mmseg.evaluation
from mmcv.ops import get_compiling_cuda_version, ModulatedDeformConv2dPack, nms_rotated
from mmengine.utils.dl_utils import collect_env
import lzu.openmmlab
collect_env()
print("PROBE " + json.dumps({"mmcv": mmcv.__version__, "mmengine": mmengine.__version__,
      "mmdet": mmdet.__version__, "mmdet3d": mmdet3d.__version__, "mmseg": mmseg.__version__,
      "numpy": numpy.__version__, "torch": torch.__version__,
      "mmcv_cuda": get_compiling_cuda_version()}))
"""


def probe_stack(env):
    """Import the stack as stage 3 will; returns (versions or None, output tail)."""
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=300)
    m = re.search(r"^PROBE (.*)$", result.stdout, re.M)
    if result.returncode == 0 and m:
        return json.loads(m.group(1)), ""
    return None, (result.stdout + result.stderr)[-2500:]


def stack_env(paths):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*paths, ROOT, *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONWARNINGS"] = "ignore"
    return env


def stage2(report, args):
    """Returns the environment stage 3 runs in, or None."""
    started = report.clock()
    cuda = torch.cuda.is_available()
    here = platform.python_version().rsplit(".", 1)[0]
    os.makedirs(args.scratch, exist_ok=True)
    site = osp.join(args.scratch, "site")
    manifest = None
    if not osp.isfile(osp.join(args.pack, "manifest.json")):
        report.step("2", "pack", "skipped", f"no pack at {args.pack}: build it with `sh run.sh gpu-pack` "
                    "where there is network, and carry it along")
    else:
        try:
            manifest, problems = verify_pack(args.pack, report.left)
            size = sum(e["bytes"] for e in manifest["files"]) / 2**20
            if problems:
                report.step("2", "pack", "failed", "; ".join(problems))
                manifest = None
            else:
                report.step("2", "pack", "passed", f"{len(manifest['files'])} files, {size:.1f} MiB, "
                            f"sha256 as in the manifest, {manifest['mmcv_sdist']} patched; for Python "
                            f"{manifest['python']}")
        except BudgetSpent as err:
            report.step("2", "pack", "timeout", str(err))
        except RecordError as err:
            report.step("2", "pack", "failed", str(err))
            manifest = None
        except Exception as err:  # noqa: BLE001
            report.step("2", "pack", "failed", f"{type(err).__name__}: {err}")
            manifest = None
    if manifest is not None:
        t = time.monotonic()
        try:
            what = install_wheels(manifest, args.pack, site)
            report.step("2", "install", "passed", f"{what} into {site} for cp{manifest['python']} "
                        f"({time.monotonic() - t:.1f} s)")
        except Exception as err:  # noqa: BLE001
            report.step("2", "install", "failed", f"{type(err).__name__}: {err}")
            manifest = None
    use_pack = manifest is not None and manifest["python"] == here
    if not cuda:
        report.step("2", "compile", "skipped", "no CUDA device: mmcv's CUDA ops are compiled on the "
                    "GPU machine only")
        report.finish_stage("2", started)
        return None
    if not use_pack:
        reason = (f"the pack is for Python {manifest['python']}, this is {here}" if manifest
                  else "no usable pack")
        versions, tail = probe_stack(stack_env([]))
        if versions and versions["mmcv_cuda"] not in ("", "not available"):
            report.step("2", "stack", "passed", f"{reason}: this environment's stack, mmcv built with "
                        f"CUDA {versions['mmcv_cuda']}", versions=versions)
            report.finish_stage("2", started)
            return stack_env([])
        report.step("2", "stack", "failed", f"{reason}, and this environment has no mmcv with CUDA ops "
                    "(LZU_CUDA_OPS=1 bash mmdetection3d/install.sh builds one)"
                    + (f":\n{tail}" if tail else ""))
        report.finish_stage("2", started)
        return None
    src = extract_sdist(manifest, args.pack, args.scratch)
    env = stack_env([site, src])
    arch = os.environ.get("TORCH_CUDA_ARCH_LIST") or "{}.{}".format(*torch.cuda.get_device_capability(0))
    jobs = os.environ.get("MAX_JOBS") or str(os.cpu_count())
    env.update(TORCH_CUDA_ARCH_LIST=arch, MAX_JOBS=jobs, MMCV_WITH_OPS="1")
    # torch builds with ninja (parallel, resumable) when it is on PATH: the interpreter's own
    env["PATH"] = os.pathsep.join([osp.dirname(sys.executable), env.get("PATH", "")])
    if report.left() < REPORT_RESERVE_S + 60:
        report.step("2", "compile", "timeout", f"only {report.left():.0f} s of the budget left")
        report.finish_stage("2", started)
        return None
    status, detail = compile_mmcv(report, src, env, osp.join(args.scratch, "build.log"),
                                  args.stop_if_overrun)
    copy_tail(osp.join(args.scratch, "build.log"), osp.join(args.out, "build.log"))
    report.step("2", "compile", status, f"TORCH_CUDA_ARCH_LIST={arch} MAX_JOBS={jobs}: {detail}")
    if status != "passed":
        report.finish_stage("2", started)
        return None
    versions, tail = probe_stack(env)
    if versions is None:
        report.step("2", "imports", "failed", f"the stack does not import:\n{tail}")
        report.finish_stage("2", started)
        return None
    report.step("2", "imports", "passed", ", ".join(f"{k} {v}" for k, v in versions.items()),
                versions=versions)
    report.finish_stage("2", started)
    return env


def copy_tail(src, dst, limit=LOG_TAIL_BYTES):
    """The last ``limit`` bytes (all of it: ``None``) of ``src`` written whole to ``dst``."""
    if not osp.isfile(src):
        return
    with open(src, "rb") as f:
        f.seek(max(0, osp.getsize(src) - limit) if limit else 0)
        data = f.read()
    with atomic_open(dst, "wb") as f:
        f.write(data)


# ------------------------------------------------------------- stage 3: OpenMMLab on CUDA
def run_logged(cmd, env, log_path, timeout):
    """Run ``cmd`` in the repository with output to ``log_path``; returns (returncode or None, s)."""
    started = time.monotonic()
    with open_nofollow(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _end(proc)
    return code, time.monotonic() - started


def junit_outcomes(path, failures=None):
    """``{module::test: passed|failed|skipped}`` from a JUnit XML file; a failed test's
    message (its first line) goes into ``failures`` when given."""
    outcomes = {}
    if not osp.isfile(path):
        return outcomes
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
        tags = {child.tag: child for child in case}
        bad = tags.get("failure", tags.get("error"))
        outcomes[name] = ("failed" if bad is not None else
                          "skipped" if "skipped" in tags else "passed")
        if bad is not None and failures is not None:
            failures[name] = ((bad.get("message") or "").strip().splitlines() or ["(no message)"])[0][:300]
    return outcomes


def pytest_step(report, key, step, tests, env, args, log, budget, prefix=""):
    """Run ``pytest tests`` (``env``, within ``budget`` s; its log as ``<log>.log`` in the
    report folder) and report it as step ``step`` of stage ``key``, one row per test."""
    os.makedirs(args.scratch, exist_ok=True)
    # pytest writes its JUnit XML with a plain open(): into a fresh private folder of its own,
    # then copied whole (atomic_open, no link followed) into the held scratch folder
    private = tempfile.mkdtemp(prefix="gpu-check-junit-")
    try:
        xml = osp.join(private, f"{log}.xml")
        code, secs = run_logged([sys.executable, "-m", "pytest", *tests, "-q", "-rA", "-p",
                                 "no:cacheprovider", "--junitxml", xml], env,
                                osp.join(args.scratch, f"{log}.log"), budget)
        failures = {}
        tests = junit_outcomes(xml, failures)
        copy_tail(xml, osp.join(args.scratch, f"{log}.xml"), limit=None)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    copy_tail(osp.join(args.scratch, f"{log}.log"), osp.join(args.out, f"{log}.log"))
    counts = {k: sum(v == k for v in tests.values()) for k in ("passed", "failed", "skipped")}
    summary = prefix + ", ".join(f"{v} {k}" for k, v in counts.items()) + f" in {secs:.0f} s"
    if code is None:
        status, summary = "timeout", f"stopped after {secs:.0f} s (budget)"
    elif code != 0 or counts["failed"] or not tests:
        status = "failed"
        summary += (f"; failing: {', '.join(failures)}" if failures else
                    f"; pytest exited {code}: see {log}.log")
    elif not counts["passed"]:
        status, summary = "skipped", f"every test skipped ({summary}): see {log}.log"
    else:
        status = "passed"
    return report.step(key, step, status, summary, pytest={"tests": tests, "failures": failures})


def benchmark_rows(path):
    """Per scale: this run's uniform and LZU latency next to the paper's."""
    bench = read_json_record(path, "benchmark report", "rerun the check", {"rows": list})
    with open(PAPER, encoding="utf-8") as f:
        paper = json.load(f)
    by = {(r["family"], round(r["scale"], 2)): r for r in bench["rows"]}
    rows = []
    for i, s in enumerate(paper["scales"]):
        u, z = by.get(("uniform", round(s, 2))), by.get(("lzu", round(s, 2)))
        pu, pz = paper["uniform"][i][0], paper["lzu"][i][0]
        rows.append({
            "scale": s, "uniform_ms": u and u["latency_ms"], "uniform_p90_ms": u and u["latency_p90_ms"],
            "lzu_ms": z and z["latency_ms"], "lzu_p90_ms": z and z["latency_p90_ms"],
            "ratio": (z["latency_ms"] / u["latency_ms"]) if u and z else None,
            "zoom_ms": z and z["zoom_ms"], "paper_uniform_ms": pu, "paper_lzu_ms": pz,
            "paper_ratio": pz / pu,
        })
    return rows


def stage3(report, args, env):
    started = report.clock()
    if env is None or not torch.cuda.is_available():
        why = "no CUDA device" if not torch.cuda.is_available() else "stage 2 gave no mmcv with CUDA ops"
        report.step("3", "pytest tests/test_cuda.py", "skipped", why)
        report.step("3", "benchmark", "skipped", f"{why} (would run tools/benchmark.py on "
                    f"{len(PAPER_CONFIGS)} paper configs, --fake-inputs, batch 1)")
        report.finish_stage("3", started)
        return
    budget = report.left() - REPORT_RESERVE_S - args.benchmark_reserve_s
    pytest_step(report, "3", "pytest tests/test_cuda.py", ["tests/test_cuda.py"], env, args, "pytest",
                budget)
    bench_out = osp.join(args.out, "benchmark")
    cmd = [sys.executable, "tools/benchmark.py", *PAPER_CONFIGS, "--fake-inputs", "--device", "cuda",
           "--warmup", str(args.bench_warmup), "--iters", str(args.bench_iters), "--out-dir", bench_out]
    code, secs = run_logged(cmd, env, osp.join(args.scratch, "benchmark.log"),
                            report.left() - REPORT_RESERVE_S)
    bench_json = osp.join(bench_out, "benchmark.json")
    if code == 0 and osp.isfile(bench_json):
        rows = benchmark_rows(bench_json)
        report.step("3", "benchmark", "passed",
                    "LZU/uniform " + ", ".join(f"{r['scale']:g}x {_fmt(r['ratio'], '{:.3f}')} "
                                               f"(paper {r['paper_ratio']:.3f})" for r in rows)
                    + f" ({secs:.0f} s)", benchmark=rows)
    else:
        with open(osp.join(args.scratch, "benchmark.log"), encoding="utf-8", errors="replace") as f:
            tail = f.read()[-2000:]
        report.step("3", "benchmark", "timeout" if code is None else "failed",
                    f"tools/benchmark.py {'stopped (budget)' if code is None else f'exited {code}'} "
                    f"after {secs:.0f} s:\n{tail}")
    report.finish_stage("3", started)


# ------------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=osp.join(ROOT, "work_dirs", "gpu_check"),
                   help="report folder (gpu_check.md, gpu_check.json, logs, benchmark/)")
    p.add_argument("--pack", default=osp.join(ROOT, "gpu_pack"), help="the pack (sh run.sh gpu-pack)")
    p.add_argument("--scratch", default=osp.join(ROOT, "work_dirs", "gpu_check_scratch"),
                   help="installed wheels and mmcv's build (kept: a second call resumes)")
    p.add_argument("--budget-s", type=float, default=540.0, help="wall-clock budget of the run")
    p.add_argument("--golden", default=GOLDEN,
                   help="the paper's grids stage 1 compares with (default: tests/data/paper_grids.npz)")
    p.add_argument("--stages", default="1,2,3", help="which stages to run, e.g. 2,3 on a rerun")
    p.add_argument("--stop-if-overrun", action="store_true",
                   help="stop the mmcv compile as soon as it cannot finish in the budget")
    p.add_argument("--image-size", type=int, nargs=2, default=(900, 1600), metavar=("H", "W"),
                   help="stage 1 latency input (default: nuScenes' 900x1600)")
    p.add_argument("--warmup", type=int, default=10, help="stage 1 latency warm-up rounds")
    p.add_argument("--iters", type=int, default=50, help="stage 1 latency timed rounds")
    p.add_argument("--cpu-latency", action="store_true",
                   help="without a CUDA device, time stage 1's latency on the CPU (dry runs)")
    p.add_argument("--bench-warmup", type=int, default=5, help="stage 3 benchmark warm-up")
    p.add_argument("--bench-iters", type=int, default=20, help="stage 3 benchmark iterations")
    p.add_argument("--benchmark-reserve-s", type=float, default=120.0,
                   help="seconds of the budget pytest leaves to the benchmark")
    args = p.parse_args(argv)
    args.stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    unknown = args.stages - set(STAGES)
    if unknown:
        p.error(f"--stages: unknown stage(s) {sorted(unknown)}; choose from 1, 2, 3")
    for name in ("out", "pack", "scratch", "golden"):
        setattr(args, name, osp.abspath(getattr(args, name)))
    return args


def unwritable(folder):
    """Why ``folder`` cannot be made and written to (a file created and removed), or None."""
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".gpu-check-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def main(argv=None):
    args = parse_args(argv)
    for name in ("out", "scratch"):
        why = unwritable(getattr(args, name))
        if why:
            print(f"gpu_check: error: --{name} {getattr(args, name)} cannot be written ({why}): "
                  "name a folder you can write", file=sys.stderr)
            return 2
    for folder in (args.out, args.scratch):  # no write below them follows a link
        hold_root(folder)
    report = Report(args.out, args.budget_s)
    print(f"[gpu-check] {report.data['mode']}: {report.data['env']['device']}, torch "
          f"{torch.__version__}; budget {args.budget_s:.0f} s; report in {args.out}", flush=True)
    for key in STAGES:
        if key not in args.stages:
            report.stage(key)["status"] = "not selected (--stages)"
    report.write()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        env = None
        for key, run in (("1", stage1), ("2", stage2), ("3", stage3)):
            if key not in args.stages:
                continue
            started = time.monotonic()
            try:
                result = run(report, args, env) if key == "3" else run(report, args)
            except Exception as err:  # noqa: BLE001  (one stage's error never hides the others')
                report.step(key, "error", "failed", f"{type(err).__name__}: {err}")
                report.finish_stage(key, started)
                result = None
            if key == "2":
                env = result
    except Interrupted as why:
        report.data["interrupted"] = f"{why} after {report.clock() - report.t0:.0f} s"
        for stage in report.data["stages"].values():
            if stage["status"] == "not run":
                stage["status"] = "interrupted"
        report.write()
        print(f"[gpu-check] interrupted ({why}); the report holds the steps done", flush=True)
        return 124
    report.write()
    with open(osp.join(args.out, "gpu_check.md"), encoding="utf-8") as f:
        print(f.read())
    print(f"[gpu-check] wrote {args.out}/gpu_check.md and gpu_check.json")
    return 1 if report.failed() else 0


if __name__ == "__main__":
    sys.exit(run_main(main, "gpu_check"))
