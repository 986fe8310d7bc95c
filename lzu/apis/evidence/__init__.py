"""The evidence benchmark's library (``tools/evidence.py``, ``sh run.sh bench``).

* ``common``: one in-process mmengine run per (cell, method, seed), fingerprints, size statistics;
* ``stats``: mean +- std over seeds and paired differences with Student-t intervals;
* one task module per task (``det2d``, ``seg``, ``det3d``), ``lzu.apis.evidence.<task>``.

The contract of a task module::

    NAME: str; METRICS: tuple (first = the headline metric, higher is better); SMALL_METRICS:
    tuple; PRIMARY: (cell id, method, metric), the task's one comparison against uniform
    declared before running (every other comparison is corrected for multiplicity)
    prepare(work_dir, quick, log) -> {"saliency_sha256": ..., "data": {...size stats...}}
    cells(quick) -> [{"cell": id, "method": ..., "scale": float, ...}]
    run(work_dir, cell, seed, quick, log) -> {"metrics": {...}, "config_sha256": str,
                                              "iters": int, "seconds": float}
"""
