"""Side check of the evidence benchmark: one det2d cell with a longer schedule or another zoom.

    python tools/evidence_sidecheck.py --iters 800 --fwhm 10 15 --seeds 0 1 2 \
        [--cell det2d@0.25] [--work-dir work_dirs/evidence/det2d] [--out work_dirs/evidence_sidecheck.json]

Trains uniform (once per seed) and LZU (per seed and per ``attraction_fwhm``) on the cell
of ``lzu/apis/evidence/det2d.py`` with ``--iters`` iterations instead of the benchmark's, in
this process, and prints / writes each run's metrics and the paired differences
LZU - uniform with 95 % intervals (``lzu/apis/evidence/stats.py``). Not part of
``sh run.sh bench``: it answers "would LZU do better with a longer schedule or a stronger
zoom?" for the reading of the benchmark (docs/evidence_reading.md).
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import argparse
import sys

from lzu.apis.evidence import det2d as _evidence_det2d
from lzu.apis.evidence.stats import mean_std, paired_difference
from lzu.infra.atomic_io import atomic_write_json
from lzu.infra.cli import run_main
from lzu.infra.output_paths import check_output_file, check_output_folder


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", default="det2d@0.25")
    p.add_argument("--iters", type=int, default=800)
    p.add_argument("--fwhm", type=float, nargs="+", default=[10.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--work-dir", default="work_dirs/evidence/det2d")
    p.add_argument("--out", default="work_dirs/evidence_sidecheck.json")
    args = p.parse_args(argv)
    check_output_folder(args.work_dir, "--work-dir")
    check_output_file(args.out, "--out")
    import lzu.openmmlab  # noqa: F401
    from lzu.infra.cpu import deterministic_cpu_kernels

    deterministic_cpu_kernels()
    cells = {c["method"]: c for c in _evidence_det2d.cells(False) if c["cell"] == args.cell}
    if "lzu" not in cells:
        sys.exit(f"evidence_sidecheck: no LZU cell '{args.cell}' in lzu/apis/evidence/det2d.py")
    _evidence_det2d.prepare(args.work_dir, False, print)
    _evidence_det2d._iters = lambda quick: args.iters
    train = _evidence_det2d.train_and_test
    runs = []
    for variant in [None, *args.fwhm]:
        for seed in args.seeds:
            def patched(config, edit, *rest, fwhm=variant):
                def edited(cfg):
                    edit(cfg)
                    if fwhm is not None:
                        cfg.model.grid_generator.attraction_fwhm = fwhm
                return train(config, edited, *rest[:-1], f"{rest[-1]}_side{args.iters}_{fwhm}")

            _evidence_det2d.train_and_test = patched
            method = "uniform" if variant is None else "lzu"
            r = _evidence_det2d.run(args.work_dir, cells[method], seed, False, print)
            runs.append({"method": method, "fwhm": variant, "seed": seed, **r})
            print(f"{method} fwhm={variant} seed {seed}: AP {r['metrics']['AP']}, "
                  f"AP_small {r['metrics']['AP_small']}", flush=True)
    _evidence_det2d.train_and_test = train
    summary = {}
    base = {r["seed"]: r["metrics"] for r in runs if r["method"] == "uniform"}
    for variant in args.fwhm:
        lzu = {r["seed"]: r["metrics"] for r in runs if r["fwhm"] == variant}
        for metric in ("AP", "AP_small"):
            seeds = sorted(lzu)
            d = paired_difference([lzu[s][metric] for s in seeds], [base[s][metric] for s in seeds])
            summary[f"fwhm{variant:g}/{metric}"] = {
                "uniform": mean_std([base[s][metric] for s in seeds]),
                "lzu": mean_std([lzu[s][metric] for s in seeds]), "diff": d}
            print(f"fwhm {variant:g} {metric}: LZU - uniform {d['mean']:+.2f} "
                  f"[{d['lo']:+.2f}, {d['hi']:+.2f}]" if d["lo"] is not None else "")
    atomic_write_json(args.out, {"cell": args.cell, "iters": args.iters, "runs": runs,
                                 "summary": summary})


if __name__ == "__main__":
    run_main(main, "evidence_sidecheck")
