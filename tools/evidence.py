"""`sh run.sh bench`: does LZU help? A multi-seed CPU benchmark of uniform vs LZU (vs FOVEA) with error bars.

    python tools/evidence.py [--quick] [--tasks det2d seg det3d] [--seeds 0 1 2]
                             [--out docs] [--work-dir work_dirs/evidence]
    python tools/evidence.py --from-json [--out docs]     (evidence.md from the JSON only)

For each task (a module lzu/apis/evidence/<task>.py: NAME, METRICS, SMALL_METRICS, prepare,
cells, run; the contract is in ``lzu.apis.evidence``) one worker process prepares
the synthetic data and saliency (the existing tools, from the training labels), then trains
and tests every (cell, method, seed) in that process with mmengine's Runner. Every run's
result is written atomically to <work-dir>/<task>/runs/; a rerun reuses a finished run when
its cell, seed, options, thread count, saliency, data content (sha256 of every file under the
task's data folders: images, label files, infos), code (sha256 of all of lzu/, configs/ and
tools/) and installed package versions (torch, mmcv, mmengine, mmdet, mmdet3d, mmseg, numpy)
all match, and says so. A task named twice in --tasks is refused. det2d and seg share the
cores (--jobs 2: two workers at once, one core each): each task's data are prepared first,
its runs are then split into shards of ``SHARD_RUNS`` that any free core takes (longest
first), and a last pass of that task's worker gathers the shards' runs (reusing every one)
into its record; a run gives the same result in any shard, since each run seeds itself and
runs on one thread. det3d runs after them with every core. Seeds drive the initialisation
and the data order; the synthetic data are the same for every seed.

Outputs under --out: evidence.json (every run: metrics, config and saliency sha256, wall
time; per cell mean +- std over seeds and the paired difference method - uniform with a
95 % Student-t interval; git sha, machine, options), evidence.md (the full report, made
from the JSON by ``report_markdown``: provenance, tables, figure, paired differences),
evidence.png (primary and small-object metric vs output size, one line per method, error
bars = std over seeds). README.md is never edited (``--from-json --readme-table`` prints its
short table). The outputs are merged into an existing evidence.json under --out: a task this
run did not run (a subset, --tasks det2d) keeps its published record, marked with its own
provenance; a task whose module is missing or whose worker fails keeps its published record
too (the failure noted), and the command then exits non-zero. Each task declares one primary
comparison; every other one is Holm-corrected (``comparisons``); ``--merge-json`` adds another
machine's runs for the same-seed machine-to-machine spread.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import argparse
import hashlib
import importlib
import importlib.util
import math
import os
import os.path as osp
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from lzu.apis.checkout import ROOT, child_env
from lzu.apis.evidence.records import (
    read_cached_run,
    read_plan,
    read_report,
    read_task_record,
)
from lzu.apis.evidence.stats import holm, mean_std, paired_difference, paired_t_p
from lzu.infra.atomic_io import (
    atomic_open,
    atomic_savefig,
    atomic_write_json,
    hold_root,
    open_nofollow,
)
from lzu.infra.cli import run_main
from lzu.infra.errors import UserInputError
from lzu.infra.output_paths import check_output_folder

TOOLS = osp.join(ROOT, "tools")

TASKS = ("det2d", "seg", "det3d")
#: tasks whose worker runs alone, with every core (the others share the cores, --jobs)
EXCLUSIVE = ("det3d",)
#: runs per shard of a shared task (a worker process costs its imports, ~10 s, per shard)
SHARD_RUNS = 6
METHODS = ("uniform", "lzu", "fovea", "lzu_adaptive", "fovea_adaptive")
#: a secondary comparison is "resolved" when its Holm-adjusted p-value is below this
ALPHA = 0.05
#: the hand-written description and reading of the benchmark, beside evidence.md in docs/
READING_DOC = "evidence_reading.md"
SCHEMA = 1


def say(msg):
    print(f"[evidence] {msg}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: fewer frames, iterations and cells, 2 seeds (minutes)")
    p.add_argument("--tasks", nargs="+", default=list(TASKS), help=f"of {' '.join(TASKS)}")
    p.add_argument("--seeds", nargs="+", type=int, help="default: 0 1 2 (quick: 0 1)")
    p.add_argument("--out", help="folder of evidence.{json,md,png} (default: docs; quick: "
                                 "<work-dir>)")
    p.add_argument("--work-dir", help="default: work_dirs/evidence (quick: work_dirs/evidence_quick)")
    p.add_argument("--jobs", type=int, default=2,
                   help="how many workers of det2d and seg run at once, each with cores/jobs "
                        "threads, taking shards of runs (det3d runs alone afterwards); 1: one "
                        "task at a time")
    p.add_argument("--from-json", action="store_true",
                   help="only rewrite <out>/evidence.md from <out>/evidence.json")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite the outputs from the finished workers' records under --work-dir "
                        "(no training; the wall time is kept from the previous evidence.json)")
    p.add_argument("--merge-json", nargs="+", default=[], metavar="JSON",
                   help="add the runs of another machine's evidence.json (kept apart, keyed by "
                        "its CPU name) so the report shows the same-seed machine-to-machine "
                        "spread; with --from-json the JSON under --out is updated")
    p.add_argument("--readme-table", action="store_true",
                   help="with --from-json: print README's short evidence table made from "
                        "<out>/evidence.json (README.md is never edited by this tool)")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one task in this process
    # internal, with --worker: only prepare the data and write <work-dir>/<task>/plan.json
    p.add_argument("--plan", action="store_true", help=argparse.SUPPRESS)
    # internal, with --worker: "K/N", run the task's runs K, K+N, K+2N, ... and nothing else
    p.add_argument("--shard", type=_shard, default=(0, 1), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown:
        raise UserInputError(f"unknown task(s) {unknown}: choose from {list(TASKS)}")
    if len(set(args.tasks)) != len(args.tasks):
        raise UserInputError(f"--tasks names a task more than once: {args.tasks} (one worker "
                             "per task and data set)")
    if args.seeds is None:
        args.seeds = [0, 1] if args.quick else [0, 1, 2]
    if len(set(args.seeds)) != len(args.seeds):
        raise UserInputError(f"--seeds repeats a seed: {args.seeds}")
    if args.work_dir is None:
        args.work_dir = osp.join("work_dirs", "evidence_quick" if args.quick else "evidence")
    if args.out is None:
        args.out = args.work_dir if args.quick else "docs"
    args.work_dir, args.out = osp.abspath(args.work_dir), osp.abspath(args.out)
    return args


def _shard(text):
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise argparse.ArgumentTypeError(f"a shard is K/N with 0 <= K < N, not {text!r}")
    return int(k), int(n)


# ----------------------------------------------------------------------------- worker side

#: installed packages whose version can change a result
PACKAGES = ("torch", "mmcv", "mmengine", "mmdet", "mmdet3d", "mmseg", "numpy")


def code_files():
    """Every file whose change can change a result: all of lzu/ and configs/ (the evidence
    tasks, the saliency builder, data writers and their data files) and every tool under
    tools/ (the tasks run some of them); caches (``__pycache__``, ``*.pyc``) left out."""
    paths = []
    for top in ("lzu", "configs", "tools"):
        for dirpath, dirnames, files in os.walk(osp.join(ROOT, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            paths += [osp.join(dirpath, f) for f in files if not f.endswith(".pyc")]
    return sorted(paths)


def code_fingerprint():
    """sha256 over ``code_files()``: each file's repository path and content."""
    h = hashlib.sha256()
    for path in code_files():
        h.update(osp.relpath(path, ROOT).encode())
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def package_versions():
    """``{package: installed version or None}`` of ``PACKAGES`` (read from the installed
    metadata, nothing imported), and the Python version."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def data_fingerprint(task_dir):
    """sha256 of the content of every file under the task's data folders (``<task dir>/data*``:
    images, label files, infos), each with its path relative to the task dir."""
    h = hashlib.sha256()
    roots = sorted(d for d in os.listdir(task_dir)
                   if d.startswith("data") and osp.isdir(osp.join(task_dir, d)))
    for root in roots:
        for dirpath, dirnames, files in os.walk(osp.join(task_dir, root)):
            dirnames.sort()
            for name in sorted(files):
                path = osp.join(dirpath, name)
                h.update(osp.relpath(path, task_dir).encode())
                with open(path, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def task_module(task):
    """The dotted name of task ``task``'s module."""
    return f"lzu.apis.evidence.{task}"


def run_id(cell, seed):
    return f"{cell['cell']}__{cell['method']}__s{seed}".replace("->", "to").replace("/", "_")


def worker(args):
    """Prepare one task and run its (cell, method, seed) in this process: all of them, then
    write the task's record ``task.json``; with ``--shard K/N`` only every N-th from the K-th
    (no record); with ``--plan`` none (``plan.json``: how many runs there are)."""
    task = args.worker
    module = importlib.import_module(task_module(task))
    import torch

    import lzu.openmmlab  # noqa: F401  (registers the LZU / FOVEA models, metrics, datasets)
    from lzu.infra.cpu import deterministic_cpu_kernels

    deterministic_cpu_kernels()

    wd = osp.join(args.work_dir, task)
    os.makedirs(osp.join(wd, "runs"), exist_ok=True)
    start = time.time()
    say(f"{task}: preparing data and saliency under {wd}")
    prep = module.prepare(wd, args.quick, lambda m: say(f"{task}: {m}"))
    prep_seconds = time.time() - start
    code = code_fingerprint()
    packages = package_versions()
    data_sha = data_fingerprint(wd)
    cells = module.cells(args.quick)
    todo = [(c, s) for c in cells for s in args.seeds]
    if args.plan:
        atomic_write_json(osp.join(wd, "plan.json"), {"runs": len(todo)})
        return
    first, every = args.shard
    runs = []
    for i in range(first, len(todo), every):
        cell, seed = todo[i]
        key = {"cell": cell, "seed": seed, "quick": args.quick, "code": code,
               "packages": packages, "threads": torch.get_num_threads(),
               "prepared": {"saliency_sha256": prep.get("saliency_sha256"),
                            "data": prep.get("data"), "data_sha256": data_sha}}
        path = osp.join(wd, "runs", run_id(cell, seed) + ".json")
        old = read_cached_run(path, lambda m: say(f"{task}: {m}"))
        where = f"{task}: [{i + 1}/{len(todo)}] {cell['cell']} {cell['method']} seed {seed}"
        if old is not None and old.get("key") == key:
            say(f"{where}: reusing the finished run (same cell, seed, options, threads, data, "
                "code and packages)")
            runs.append(old["result"])
            continue
        say(where)
        result = module.run(wd, cell, seed, args.quick, lambda m: say(f"{task}: {m}"))
        result = {**cell, "seed": seed, **result,
                  "saliency_sha256": prep.get("saliency_sha256")}
        say(f"{task}:     {_fmt_metrics(result['metrics'], module.METRICS[:3])}")
        atomic_write_json(path, {"key": key, "result": result})
        runs.append(result)
    if every > 1:
        return
    summary = {"task": task, "status": "ok", "metrics": list(module.METRICS),
               "small_metrics": list(module.SMALL_METRICS), "prepared": prep,
               "primary": dict(zip(("cell", "method", "metric"), module.PRIMARY, strict=True)),
               "metric_unit": getattr(module, "METRIC_UNIT", None),
               "prepare_seconds": round(prep_seconds, 1), "code_sha256": code, "runs": runs,
               "data_sha256": data_sha, "packages": packages,
               "torch_threads": torch.get_num_threads(),
               "seconds": round(prep_seconds + sum(r["seconds"] for r in runs), 1)}
    atomic_write_json(osp.join(wd, "task.json"), summary)


def _fmt_metrics(metrics, keys):
    return ", ".join(f"{k} {metrics[k]:.2f}" if metrics.get(k) is not None else f"{k} n/a"
                     for k in keys)


# ----------------------------------------------------------------------------- statistics

def summarise(task):
    """Per cell and method: mean +- std of every metric over seeds, and the paired difference
    to uniform (same seeds) with a 95 % interval. Returns ``{cell: {...}}``."""
    out = {}
    for run in task["runs"]:
        cell = out.setdefault(run["cell"], {"scale": run["scale"],
                                            "input_scale": run.get("input_scale", 1.0),
                                            "methods": {}})
        cell["methods"].setdefault(run["method"], []).append(run)
    for cell in out.values():
        by_method = cell.pop("methods")
        cell["methods"] = {}
        base = {r["seed"]: r for r in by_method.get("uniform", [])}
        for method, runs in by_method.items():
            entry = {"seeds": sorted(r["seed"] for r in runs), "metrics": {}}
            for metric in task["metrics"]:
                values = [r["metrics"].get(metric) for r in runs]
                if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
                    entry["metrics"][metric] = {"mean": None, "std": None, "n": 0}
                    continue
                mean, std = mean_std(values)
                stats = {"mean": mean, "std": std, "n": len(values)}
                if method != "uniform":
                    pairs = [(r["metrics"][metric], base[r["seed"]]["metrics"].get(metric))
                             for r in runs if r["seed"] in base]
                    if pairs and all(b is not None for _, b in pairs):
                        stats["diff_vs_uniform"] = paired_difference([a for a, _ in pairs],
                                                                     [b for _, b in pairs])
                entry["metrics"][metric] = stats
            cell["methods"][method] = entry
    return out


def primary_of(name, task):
    """Task ``name``'s declared primary comparison ``{cell, method, metric}``: from its record,
    else (a record written before primaries were recorded) from its module's ``PRIMARY``."""
    if task.get("primary"):
        return task["primary"]
    module = importlib.import_module(task_module(name))
    return dict(zip(("cell", "method", "metric"), module.PRIMARY, strict=True))


def comparisons(report):
    """Every paired comparison method - uniform of the report: one per task, cell, method and
    metric, with its 95 % interval and paired-t p-value. Each task's declared primary
    comparison is read on its own interval (``primary``: True); all the others form one
    family, Holm-corrected together (``p_holm``), and one is ``resolved`` only when its
    adjusted p-value is below ``ALPHA``. A primary comparison is resolved when its interval
    excludes 0."""
    out = []
    for name, task in report["tasks"].items():
        if task.get("status") != "ok":
            continue
        primary = primary_of(name, task)
        for cell_id, cell in task["cells"].items():
            for method, entry in cell["methods"].items():
                for metric in task["metrics"]:
                    d = entry["metrics"][metric].get("diff_vs_uniform")
                    if method == "uniform" or d is None:
                        continue
                    p = d["p"] if "p" in d else paired_t_p(d["mean"], d["std"], d["n"])
                    is_primary = (cell_id, method, metric) == (
                        primary["cell"], primary["method"], primary["metric"])
                    out.append({"task": name, "cell": cell_id, "method": method,
                                "metric": metric, "primary": is_primary, "n": d["n"],
                                "mean": d["mean"], "lo": d.get("lo"), "hi": d.get("hi"),
                                "p": p})
    secondary = [c for c in out if not c["primary"]]
    for c, adjusted in zip(secondary, holm([c["p"] for c in secondary]), strict=True):
        c["p_holm"] = adjusted
        c["resolved"] = adjusted is not None and adjusted < ALPHA
    for c in out:
        if c["primary"]:
            c["resolved"] = c["lo"] is not None and (c["lo"] > 0 or c["hi"] < 0)
    return out


def machine_spread(report):
    """The same run (task, cell, method, seed) on this report's machine and on each merged
    one (``other_machines``): per task and other CPU, how many pairs differ in the primary
    metric and by how much, next to the seed spread (mean std over seeds of that metric,
    over this machine's cells and methods)."""
    out = []
    for cpu, other in report.get("other_machines", {}).items():
        for name, task in report["tasks"].items():
            theirs = other.get("tasks", {}).get(name)
            if task.get("status") != "ok" or not theirs:
                continue
            metric = primary_of(name, task)["metric"]
            mine = {(r["cell"], r["method"], r["seed"]): r["metrics"].get(metric)
                    for r in task["runs"]}
            gaps = [abs(r["metrics"][metric] - mine[key]) for r in theirs["runs"]
                    if (key := (r["cell"], r["method"], r["seed"])) in mine
                    and mine[key] is not None and r["metrics"].get(metric) is not None]
            stds = [e["metrics"][metric]["std"] for c in task["cells"].values()
                    for e in c["methods"].values()
                    if e["metrics"].get(metric, {}).get("std") is not None and
                    e["metrics"][metric]["n"] > 1]
            if gaps:
                out.append({"task": name, "cpu": cpu, "metric": metric, "pairs": len(gaps),
                            "differ": sum(g > 1e-9 for g in gaps), "max_abs": max(gaps),
                            "mean_abs": sum(gaps) / len(gaps),
                            "seed_std": sum(stds) / len(stds) if stds else None})
    return out


def merge_machine(report, other, path):
    """Add ``other`` (another machine's evidence.json, read from ``path``) to
    ``report["other_machines"]`` under its CPU name: its git sha, machine and, per measured
    task, its runs. They are shown as the machine-to-machine spread, never pooled."""
    try:
        cpu = other["machine"]["cpu"]
        tasks = {n: {"runs": t["runs"]} for n, t in other["tasks"].items()
                 if t.get("status") == "ok"}
    except (KeyError, TypeError, AttributeError):
        raise UserInputError(f"{path}: not an evidence.json of this benchmark (machine.cpu and "
                             "tasks.<task>.runs expected)") from None
    if cpu == report["machine"]["cpu"]:
        raise UserInputError(f"{path}: its runs are from the same CPU ({cpu}) as this report: "
                             "--merge-json adds another machine's runs")
    report.setdefault("other_machines", {})[cpu] = {
        "git_sha": other.get("git_sha"), "machine": other["machine"], "tasks": tasks}


# ----------------------------------------------------------------------------- reports

def _git_sha():
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    from lzu.infra.cpu import available_cores

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cores_available": available_cores(), "python": platform.python_version(),
            "system": platform.system()}


def _digits(task, metric):
    """Decimals for a metric: 2 for a task whose module says ``METRIC_UNIT = "percent"``, else
    4 for fractions (all |values| <= 1, e.g. NDS) and 2 otherwise."""
    if task.get("metric_unit") == "percent":
        return 2
    values = [abs(r["metrics"][metric]) for r in task["runs"]
              if r["metrics"].get(metric) is not None]
    return 4 if values and max(values) <= 1.0 else 2


def _diff_text(d, digits=2):
    if d is None:
        return "n/a"
    if d.get("lo") is None:
        return f"{d['mean']:+.{digits}f} (n={d['n']})"
    return f"{d['mean']:+.{digits}f} [{d['lo']:+.{digits}f}, {d['hi']:+.{digits}f}]"


def _cell_label(cell_id, cell):
    if cell["input_scale"] != 1.0:
        return f"{cell_id} (input {cell['input_scale']:g}x, output {cell['scale']:g}x)"
    return cell_id


def markdown(report):
    """The tables: per task, per cell and method, mean +- std and the paired difference."""
    lines = []
    for name, task in report["tasks"].items():
        if task["status"] != "ok":
            lines += [f"**{name}**: not measured: {task['status']} ({task.get('why', '')}).", ""]
            continue
        shown = task["metrics"][:2] if task["metrics"][1] in task["small_metrics"] else \
            [task["metrics"][0], *task["small_metrics"][:1]]
        seeds = sorted({r["seed"] for r in task["runs"]})
        iters = sorted({r["iters"] for r in task["runs"]})
        lines.append(f"**{name}** ({len(seeds)} seeds: {', '.join(map(str, seeds))}; "
                     f"{'/'.join(map(str, iters))} iterations per run; mean ± std over seeds; "
                     "Δ = paired difference to uniform, mean [95 % CI])")
        lines.append("")
        head = ["cell", "method"]
        for m in shown:
            head += [m, f"Δ{m}"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for cell_id, cell in task["cells"].items():
            for method in sorted(cell["methods"], key=lambda m: METHODS.index(m)
                                 if m in METHODS else 99):
                row = [_cell_label(cell_id, cell), method]
                for m in shown:
                    s = cell["methods"][method]["metrics"][m]
                    k = _digits(task, m)
                    row.append("n/a" if s["mean"] is None else
                               f"{s['mean']:.{k}f} ± {s['std']:.{k}f}")
                    row.append("—" if method == "uniform" else
                               _diff_text(s.get("diff_vs_uniform"), k))
                lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        lines.append("Every metric, mean over seeds (uniform / LZU / FOVEA where run):")
        lines.append("")
        for cell_id, cell in task["cells"].items():
            for method, entry in cell["methods"].items():
                vals = ", ".join(
                    f"{m} {v['mean']:.{_digits(task, m)}f}" if v["mean"] is not None else f"{m} n/a"
                    for m, v in entry["metrics"].items())
                lines.append(f"- {cell_id} {method}: {vals}")
        seconds = [r["seconds"] for r in task["runs"]]
        lines.append(f"- wall time per run {min(seconds):.0f}-{max(seconds):.0f} s "
                     f"(mean {sum(seconds) / len(seconds):.0f} s); the task's runs and data "
                     f"preparation add up to {task.get('seconds', 0) / 60:.1f} min"
                     + (f" on {task['torch_threads']} thread(s)" if task.get("torch_threads")
                        else ""))
        data = task.get("prepared", {}).get("data", {})
        sizes = [(k, v) for k, v in data.items()
                 if isinstance(v, dict) and "coco_small" in v]
        if sizes:
            lines.append("- object sizes (training labels; sqrt(area) p10/p50/p90 px, share "
                         "COCO-small < 32², share < 8 px): " + "; ".join(
                             f"{k}: {'/'.join(f'{q:g}' for q in v['sqrt_area_p10_p50_p90'])}, "
                             f"{100 * v['coco_small']:.0f} %, {100 * v['under_8px']:.0f} %"
                             for k, v in sizes))
        lines.append("")
    return "\n".join(lines)


def _seed_std_ratio(task, c):
    noise = task["cells"][c["cell"]]["methods"].get("uniform", {}).get("metrics", {}).get(
        c["metric"], {})
    std, k = noise.get("std"), _digits(task, c["metric"])
    return f", {abs(c['mean']) / std:.1f}x the uniform seed std ({std:.{k}f})" if std else ""


def _direction(c):
    return "better than uniform" if c["mean"] > 0 else "worse than uniform"


def reading(report):
    """The paired differences (method - uniform, same seed) read as the benchmark declares:
    each task's primary comparison on its plain 95 % interval, every other one only after
    Holm's correction (``comparisons``)."""
    comps = comparisons(report)
    out = ["Primary comparisons (one per task, declared in its module before running; "
           "resolved when the 95 % interval excludes 0):", ""]
    for name, task in report["tasks"].items():
        if task.get("status") != "ok":
            out.append(f"- {name}: not measured ({task['status']}).")
            continue
        mine = [c for c in comps if c["task"] == name and c["primary"]]
        if not mine:
            p = primary_of(name, task)
            out.append(f"- {name}: the primary comparison ({p['method']} vs uniform "
                       f"{p['metric']} at {p['cell']}) was not run.")
        for c in mine:
            cell = task["cells"][c["cell"]]
            if c["lo"] is None:
                verdict = "undecided (one seed)"
            elif c["resolved"]:
                verdict = f"resolved, {_direction(c)}"
            else:
                verdict = "not resolved (the interval includes 0)"
            out.append(f"- {name} {_cell_label(c['cell'], cell)}, {c['metric']}: {c['method']} − "
                       f"uniform {_diff_text(c, _digits(task, c['metric']))}"
                       + ("" if c["p"] is None else f", p = {c['p']:.3f}")
                       + f": {verdict}{_seed_std_ratio(task, c)}.")
    secondary = [c for c in comps if not c["primary"]]
    tested = [c for c in secondary if c["p"] is not None]
    resolved = [c for c in secondary if c["resolved"]]
    out += ["", f"Secondary comparisons: the other {len(tested)} (every cell × method × metric "
            f"with two or more seeds), Holm-corrected together as one family; a difference is "
            f"called resolved only when its adjusted p-value is below {ALPHA:g}. Resolved: "
            + ("; ".join(f"{c['task']} {c['cell']} {c['method']} {c['metric']} "
                         f"{_diff_text(c, _digits(report['tasks'][c['task']], c['metric']))}"
                         for c in resolved) or "none") + ".", ""]
    if secondary:
        out += ["| task | cell | method | metric | Δ [95 % CI] | p | Holm p | resolved |",
                "|---|---|---|---|---|---|---|---|"]
        for c in secondary:
            k = _digits(report["tasks"][c["task"]], c["metric"])
            p = "n/a" if c["p"] is None else f"{c['p']:.3f}"
            ph = "n/a" if c.get("p_holm") is None else f"{c['p_holm']:.3f}"
            out.append(f"| {c['task']} | {c['cell']} | {c['method']} | {c['metric']} | "
                       f"{_diff_text(c, k)} | {p} | {ph} | {'yes' if c['resolved'] else 'no'} |")
    return "\n".join(out)


def spread_markdown(report):
    """The same-seed machine-to-machine spread (``machine_spread``), or "" with one machine."""
    rows = machine_spread(report)
    if not rows:
        return ""
    lines = [f"Same seed on another machine (runs merged from another machine's evidence.json, "
             f"this report's CPU: {report['machine']['cpu']}): how far one run's primary metric "
             "moves when only the CPU changes, next to the spread over seeds:", "",
             "| task | other CPU | metric | same-seed pairs | differing | max abs Δ | "
             "mean abs Δ | seed std (mean over cells) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = _digits(report["tasks"][r["task"]], r["metric"])
        seed = "n/a" if r["seed_std"] is None else f"{r['seed_std']:.{k}f}"
        lines.append(f"| {r['task']} | {r['cpu']} | {r['metric']} | {r['pairs']} | "
                     f"{r['differ']} | {r['max_abs']:.{k}f} | {r['mean_abs']:.{k}f} | {seed} |")
    return "\n".join(lines) + "\n"


#: README's names of the tasks and methods
TASK_LABELS = {"det2d": "2-D detection", "seg": "segmentation", "det3d": "3-D detection"}
METHOD_LABELS = {"lzu": "LZU", "fovea": "FOVEA", "lzu_adaptive": "LZU adaptive",
                 "fovea_adaptive": "FOVEA adaptive"}


def readme_table(report):
    """README's short evidence table, made from the JSON (``--from-json --readme-table``
    prints it; tests/test_docs.py checks README against it): per task its primary metric at
    each output size (full-frame input), uniform's mean ± std and each method's paired
    difference with its 95 % interval; "(primary)" marks the declared comparison, "resolved"
    one that holds as ``comparisons`` reads it."""
    comps = {(c["task"], c["cell"], c["method"], c["metric"]): c for c in comparisons(report)}
    tasks = [(n, t) for n, t in report["tasks"].items() if t.get("status") == "ok"]
    methods = [m for m in METHODS[1:]
               if any(m in c["methods"] for _, t in tasks for c in t["cells"].values())]
    lines = ["| task (metric) | output | uniform | "
             + " | ".join(f"{METHOD_LABELS.get(m, m)} − uniform" for m in methods) + " |",
             "|---|---|---|" + "---|" * len(methods)]
    for name, task in tasks:
        metric = primary_of(name, task)["metric"]
        k = _digits(task, metric)
        for cell_id, cell in task["cells"].items():
            if cell["input_scale"] != 1.0:
                continue
            base = cell["methods"].get("uniform", {}).get("metrics", {}).get(metric, {})
            row = [f"{TASK_LABELS.get(name, name)} ({metric})", f"{cell['scale']:g}x",
                   "n/a" if base.get("mean") is None else
                   f"{base['mean']:.{k}f} ± {base['std']:.{k}f}"]
            for m in methods:
                c = comps.get((name, cell_id, m, metric))
                if c is None:
                    row.append("–")
                    continue
                text = _diff_text(c, k)
                text += " (primary)" if c["primary"] else ""
                text += ", resolved" if c["resolved"] else ""
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    tasks = [(n, t) for n, t in report["tasks"].items() if t["status"] == "ok"]
    panels = []
    for name, task in tasks:
        for metric in dict.fromkeys([task["metrics"][0], *task["small_metrics"][:1]]):
            panels.append((name, task, metric))
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.2 * max(1, len(panels)), 3.6),
                             squeeze=False)
    colours = {"uniform": "tab:blue", "lzu": "tab:red", "fovea": "tab:green",
               "lzu_adaptive": "tab:orange", "fovea_adaptive": "tab:olive"}
    for ax, (name, task, metric) in zip(axes[0], panels, strict=False):
        for i, method in enumerate(METHODS):
            shift = 1 + 0.015 * (i - 1)  # methods side by side at one size
            pts = [(c["scale"] * shift, c["methods"][method]["metrics"][metric])
                   for c in task["cells"].values()
                   if c["input_scale"] == 1.0 and method in c["methods"]]
            pts = sorted(p for p in pts if p[1]["mean"] is not None)
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1]["mean"] for p in pts],
                            yerr=[p[1]["std"] for p in pts], marker="o", capsize=3,
                            color=colours.get(method), label=method)
            up = [(c["scale"], c["methods"][method]["metrics"][metric], c["input_scale"])
                  for c in task["cells"].values()
                  if c["input_scale"] != 1.0 and method in c["methods"]]
            for x, s, src in up:
                if s["mean"] is not None:
                    ax.errorbar([x * shift * 1.04], [s["mean"]], yerr=[s["std"]], marker="s",
                                mfc="none", capsize=3, color=colours.get(method), ls="none",
                                label=f"{method}, from {src:g}x input")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({c["scale"] for c in task["cells"].values()}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("output size (fraction of the frame)")
        ax.set_ylabel(metric)
        ax.set_title(f"{name}: {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if not panels:
        axes[0][0].text(0.5, 0.5, "no task measured", ha="center")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=90)
    plt.close(fig)


def report_markdown(report):
    """The whole of evidence.md, made from the JSON report: provenance, tables, figure and the
    paired differences read against the seed noise."""
    m = report["machine"]
    measured = [n for n, t in report["tasks"].items() if t["status"] == "ok"]
    missing = [f"{n} ({t['status']})" for n, t in report["tasks"].items() if t["status"] != "ok"]
    lines = ["# Does LZU help? (measured here)",
             "",
             f"Produced by `sh run.sh bench` (`python tools/evidence.py`) at git "
             f"`{report['git_sha'][:12]}`, on {m['cpu']} with {m['cores_available']} cores "
             f"available (a machine shared with other jobs), in "
             f"{report['wall_seconds'] / 60:.1f} min. Synthetic data (fixed for all seeds), "
             f"seeds {', '.join(map(str, report['options']['seeds']))} (initialisation and data "
             f"order). Tasks measured: {', '.join(measured) or 'none'}"
             + (f"; not measured: {', '.join(missing)}" if missing else "") + ".",
             "",
             f"This file is generated from `evidence.json` by `tools/evidence.py`; what the "
             f"benchmark runs and how to read it: [{READING_DOC}]({READING_DOC}).",
             ""]
    kept = _provenance_lines(report)
    if kept:
        lines += ["Records not from the run above:", "", *kept, ""]
    lines += [markdown(report).rstrip(),
              "",
              "![metric vs output size](evidence.png)",
              "",
              "Paired differences (method − uniform, same seed; Δ [95 % CI], paired t-test p):",
              "",
              reading(report),
              ""]
    spread = spread_markdown(report)
    if spread:
        lines += [spread]
    return "\n".join(lines)


def collect(args, started, outcomes):
    tasks = {}
    for name in args.tasks:
        outcome = outcomes[name]
        if outcome["status"] != "ok":
            tasks[name] = outcome
            continue
        record = osp.join(args.work_dir, name, "task.json")
        task = read_task_record(record)
        task["threads"] = outcome.get("threads")
        task["cells"] = summarise(task)
        task["provenance"] = provenance(args)
        tasks[name] = task
    return {"schema": SCHEMA, "git_sha": _git_sha(), "machine": machine(),
            "wall_seconds": round(time.time() - started, 1),
            "options": {"quick": args.quick, "seeds": args.seeds, "tasks": args.tasks,
                        "jobs": args.jobs,
                        "work_dir": osp.relpath(args.work_dir, ROOT)
                        if args.work_dir.startswith(ROOT) else args.work_dir},
            "tasks": tasks}


def provenance(args):
    """Where and how a task's record was measured: git sha, CPU, options, when (UTC)."""
    return {"git_sha": _git_sha(), "cpu": machine()["cpu"], "quick": args.quick,
            "seeds": list(args.seeds),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def keep_published(report, previous):
    """Merge this run's ``report`` into the ``previous`` one under the same --out, so a subset
    run or a failed task never loses published results: a measured task of ``previous`` that
    this run did not run is kept as it was, and one that this run tried but could not measure
    (failed, missing) keeps its published record with the failure noted (``rerun``). Kept
    records carry their own ``provenance`` (from ``previous`` when they had none). Another
    machine's merged runs (``other_machines``) are kept too. A previous report of the other
    kind (--quick vs full) is not merged."""
    if not previous or not isinstance(previous.get("tasks"), dict) or \
            bool(previous.get("options", {}).get("quick")) != bool(report["options"]["quick"]):
        return report
    tasks = dict(report["tasks"])
    for name, old in previous["tasks"].items():
        new = tasks.get(name)
        if not isinstance(old, dict) or (new is not None and new.get("status") == "ok"):
            continue
        if old.get("status") != "ok":
            tasks.setdefault(name, old)
            continue
        old = {**old, "provenance": old.get("provenance") or {
            "git_sha": previous.get("git_sha"), "cpu": previous.get("machine", {}).get("cpu"),
            "quick": previous.get("options", {}).get("quick"),
            "seeds": previous.get("options", {}).get("seeds")}}
        if new is not None:
            old["rerun"] = {k: v for k, v in new.items() if k in ("status", "why", "log")}
        tasks[name] = old
    order = [n for n in TASKS if n in tasks] + [n for n in tasks if n not in TASKS]
    report["tasks"] = {n: tasks[n] for n in order}
    for cpu, entry in previous.get("other_machines", {}).items():
        if cpu != report["machine"]["cpu"]:
            report.setdefault("other_machines", {}).setdefault(cpu, entry)
    return report


def _provenance_lines(report):
    """One line per task measured elsewhere or earlier than the report's own run, and per
    task whose rerun failed (its published record kept)."""
    lines = []
    for name, task in report["tasks"].items():
        prov = task.get("provenance") or {}
        if prov and (prov.get("git_sha") != report["git_sha"]
                     or prov.get("cpu") != report["machine"]["cpu"]):
            lines.append(f"- {name}: kept from an earlier run at git "
                         f"`{str(prov.get('git_sha'))[:12]}` on {prov.get('cpu')}"
                         + (f", seeds {', '.join(map(str, prov['seeds']))}"
                            if prov.get("seeds") else "") + ".")
        if task.get("rerun"):
            lines.append(f"- {name}: the latest rerun did not finish ({task['rerun']['status']}: "
                         f"{task['rerun'].get('why', '')}); the record shown is the earlier one.")
    return lines


def write_outputs(report, out):
    os.makedirs(out, exist_ok=True)
    report["comparisons"] = comparisons(report)
    atomic_write_json(osp.join(out, "evidence.json"), report)
    write_markdown(report, out)
    plot(report, osp.join(out, "evidence.png"))


def write_markdown(report, out):
    with atomic_open(osp.join(out, "evidence.md"), "w", encoding="utf-8") as f:
        f.write(report_markdown(report))


def run_task(args, name, threads=None, worker_args=()):
    """One worker process for task ``name`` (``threads``: its OpenMP threads, default the
    environment's; ``worker_args``: ``--plan`` or ``--shard K/N``); returns its outcome
    (ok / missing / failed)."""
    if importlib.util.find_spec(task_module(name)) is None:
        return {"status": "missing",
                "why": f"{task_module(name).replace('.', '/')}.py is not in this checkout"}
    cmd = [sys.executable, osp.abspath(__file__), "--worker", name, "--work-dir", args.work_dir,
           "--seeds", *map(str, args.seeds), *worker_args] + (["--quick"] if args.quick else [])
    env = child_env()
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    part = "".join(a.lstrip("-").replace("/", "of") for a in worker_args)
    log = osp.join(args.work_dir, f"{name}{'.' + part if part else ''}.log")
    say(f"{name}: worker {' '.join(worker_args) + ' ' if worker_args else ''}started "
        f"({threads or 'default'} threads; log: {log})")
    with open_nofollow(log, "w", encoding="utf-8") as f:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=ROOT, env=env)
        for line in proc.stdout:
            f.write(line)
            f.flush()
            if line.startswith("[evidence]"):
                print(line, end="", flush=True)
        proc.wait()
    if proc.returncode != 0:
        with open(log, encoding="utf-8") as f:
            tail = [line.strip() for line in f.readlines()[-200:] if line.strip()]
        why = next((line for line in reversed(tail) if "Error" in line or "error" in line),
                   tail[-1] if tail else "no output")
        say(f"{name}: worker FAILED (exit {proc.returncode}): {why}")
        return {"status": "failed", "why": why[:300], "log": log}
    return {"status": "ok"}


def shard_plan(runs, jobs, seconds_per_run):
    """The shared tasks' work units, in the order the free cores take them.

    ``runs``: {task: number of runs}; ``seconds_per_run``: {task: expected seconds of one run}
    (a missing task counts 1). With one job every task is one unit; otherwise a task is split
    into ``ceil(runs / SHARD_RUNS)`` shards dealt round-robin (shard K takes runs K, K+N, ...),
    ordered longest first (greedy longest-processing-time scheduling). Returns
    ``[(task, K, N)]``.
    """
    units = []
    for task, n_runs in runs.items():
        shards = 1 if jobs <= 1 else max(1, math.ceil(n_runs / SHARD_RUNS))
        for k in range(shards):
            size = len(range(k, n_runs, shards))
            units.append((size * seconds_per_run.get(task, 1.0), task, k, shards))
    units.sort(key=lambda u: -u[0])
    return [(task, k, n) for _, task, k, n in units]


def _seconds_per_run(previous):
    """Each task's mean run time in the ``previous`` report (scheduling hint)."""
    previous = previous or {}
    hints = {}
    for name, task in previous.get("tasks", {}).items():
        seconds = [r.get("seconds") for r in task.get("runs", [])]
        if seconds and all(isinstance(v, int | float) for v in seconds):
            hints[name] = sum(seconds) / len(seconds)
    return hints


def published_report(out):
    """The report already under ``out`` (its runs checked), or None: the one a new run is
    merged into. A malformed one is refused, before any work, rather than replaced."""
    path = osp.join(out, "evidence.json")
    if not osp.lexists(path):
        return None
    return read_report(path, "fix or restore it, or move it away (the results it holds are "
                       "kept in the new report)", rendered=False)


def run_tasks(args):
    """Run the workers: the shared tasks (not ``EXCLUSIVE``) on ``--jobs`` workers at once, each
    with its share of the cores as OpenMP threads (many small convolutions use one core each
    better than two cores together); then each task of ``EXCLUSIVE`` alone with every core.

    With more than one job a shared task goes through three steps: its data are prepared
    (``--plan``), its runs are done in shards (``shard_plan``) by whichever worker is free,
    and its worker gathers them into the record (every run reused)."""
    from lzu.infra.cpu import available_cores

    shared = [n for n in args.tasks if n not in EXCLUSIVE]
    jobs = max(1, min(args.jobs, available_cores()))
    threads = max(1, available_cores() // jobs) if jobs > 1 else None
    outcomes = {}
    with ThreadPoolExecutor(jobs) as pool:
        if jobs > 1:
            planned = dict(zip(shared, pool.map(
                lambda n: run_task(args, n, threads, ["--plan"]), shared), strict=True))
            outcomes.update({n: o for n, o in planned.items() if o["status"] != "ok"})
            runs = {n: read_plan(osp.join(args.work_dir, n, "plan.json"))
                    for n in shared if n not in outcomes}
        else:
            runs = {n: 1 for n in shared}
        units = shard_plan(runs, jobs, _seconds_per_run(published_report(args.out)))
        futures = [(task, pool.submit(run_task, args, task, threads,
                                      ["--shard", f"{k}/{n}"] if n > 1 else []))
                   for task, k, n in units]
        for task, future in futures:
            outcome = future.result()
            if outcome["status"] != "ok":
                outcomes.setdefault(task, outcome)
        sharded = sorted({task for task, _, n in units if n > 1 and task not in outcomes},
                         key=shared.index)
        gathered = list(zip(sharded, pool.map(lambda n: run_task(args, n, threads), sharded),
                            strict=True))
    for task, outcome in gathered:
        outcomes.setdefault(task, outcome)
    for name in shared:
        outcomes.setdefault(name, {"status": "ok"})
    for name in args.tasks:
        if name in EXCLUSIVE:
            outcomes[name] = run_task(args, name)
    for name, outcome in outcomes.items():
        outcome.setdefault("threads", threads if name in shared else None)
    return {n: outcomes[n] for n in args.tasks}


def main(argv=None):
    args = parse_args(argv)
    check_output_folder(args.work_dir, "--work-dir")
    check_output_folder(args.out, "--out")
    for folder in (args.work_dir, args.out):  # no write below them follows a link
        hold_root(folder)
    if args.worker:
        return worker(args)
    others = [(path, read_report(path, rendered=False)) for path in args.merge_json]
    if args.from_json:
        report = read_report(osp.join(args.out, "evidence.json"), "run the benchmark first")
        for path, other in others:
            merge_machine(report, other, path)
        if args.readme_table:
            print(readme_table(report), end="")
            return None
        if others:
            report["comparisons"] = comparisons(report)
            atomic_write_json(osp.join(args.out, "evidence.json"), report)
            say(f"merged {len(others)} other machine(s) into "
                f"{osp.join(args.out, 'evidence.json')}")
        write_markdown(report, args.out)
        say(f"evidence.md rewritten from {osp.join(args.out, 'evidence.json')}")
        return None
    previous = published_report(args.out)
    started = time.time()
    os.makedirs(args.work_dir, exist_ok=True)
    if args.report_only:
        previous = previous or {}
        outcomes = {}
        for name in args.tasks:
            old = previous.get("tasks", {}).get(name, {})
            if osp.isfile(osp.join(args.work_dir, name, "task.json")):
                outcomes[name] = {"status": "ok", "threads": old.get("threads")}
            else:
                outcomes[name] = {k: v for k, v in old.items()
                                  if k in ("status", "why", "log")} or {
                    "status": "missing", "why": f"no finished worker record under {args.work_dir}"}
        report = collect(args, started, outcomes)
        report["wall_seconds"] = previous.get("wall_seconds", report["wall_seconds"])
    else:
        outcomes = run_tasks(args)
        report = collect(args, started, outcomes)
    report = keep_published(report, previous)
    for path, other in others:
        merge_machine(report, other, path)
    write_outputs(report, args.out)
    say(f"wrote {args.out}/evidence.json, evidence.md, evidence.png "
        f"({report['wall_seconds'] / 60:.1f} min)")
    print(markdown(report))
    failed = [] if args.report_only else [
        f"{n} ({outcomes[n]['status']}: {outcomes[n].get('why', '')})" for n in args.tasks
        if outcomes[n]["status"] != "ok"]
    if failed:
        raise UserInputError(f"not measured: {'; '.join(failed)}; the published results of "
                             f"these tasks, if any, are kept in {args.out}/evidence.json")
    return None


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_main(main, "evidence")
