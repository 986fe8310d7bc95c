#!/bin/sh
# lzu entry point.  sh run.sh --help
set -eu

ROOT=$(cd "$(dirname "$0")" && pwd)
CALLER=$(pwd)
# paths the user gives are relative to where they ran this, not to the repository
from_caller() {
    case "$1" in
        /*) printf '%s' "$1" ;;
        *) printf '%s' "$CALLER/$1" ;;
    esac
}
[ -n "${DATA_ROOT:-}" ] && DATA_ROOT=$(from_caller "$DATA_ROOT") && export DATA_ROOT
[ -n "${SALIENCY:-}" ] && SALIENCY=$(from_caller "$SALIENCY") && export SALIENCY
if [ -n "${WORK_DIR:-}" ]; then WORK_DIR=$(from_caller "$WORK_DIR"); else WORK_DIR=$ROOT/work_dirs; fi
if [ -n "${LZU_PYTHON:-}" ]; then
    case "$LZU_PYTHON" in */*) LZU_PYTHON=$(from_caller "$LZU_PYTHON") ;; esac
fi
cd "$ROOT"
PY=${LZU_PYTHON:-$ROOT/.venv/bin/python}
# the tools import this checkout's lzu, whichever checkout the environment was installed from
PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH

# task folders whose top-level configs are experiments too (besides the paper's in configs/)
TASKS="det2d seg pgd"

experiments() {
    for f in configs/*.py; do
        [ -f "$f" ] && basename "$f" .py
    done
    for task in $TASKS; do
        for f in configs/"$task"/*.py; do
            [ -f "$f" ] && printf '%s/%s\n' "$task" "$(basename "$f" .py)"
        done
    done
}

is_experiment() {
    # a top-level config of configs/ or of a task folder; never a base (_base_/) or demo config
    case "$1" in
        "" | .* | _* | */*/* | */.* | */_* | */) return 1 ;;
        */*)
            case " $TASKS " in
                *" ${1%%/*} "*) ;;
                *) return 1 ;;
            esac
            ;;
    esac
    [ -f "configs/$1.py" ]
}

usage() {
    cat <<EOF
usage: sh run.sh COMMAND [ARGS...]

commands:
  test [PYTEST_ARGS]   run the test suite without the slow end-to-end runs (CI; builds the
                       environment on first use)
  test-all [ARGS]      the whole suite, slow end-to-end runs included
  demo                 synthetic nuScenes-format demo: baseline vs LZU, scored by the devkit
  demo det2d           2-D detection demo (Argoverse-HD layout, FCOS): uniform, FOVEA and LZU,
                       fixed and adaptive, one COCO AP table (--methods picks some)
  demo seg             segmentation demo (Cityscapes layout, FCN): uniform vs LZU, mIoU
  bench [ARGS]         does LZU help? uniform vs LZU (vs FOVEA) over 3 seeds with 95 % CIs on
                       2-D detection, segmentation and 3-D detection, CPU (45-55 min; --quick:
                       a smoke run of minutes); writes docs/evidence.{json,md,png}
                       (python tools/evidence.py --help)
  gpu-pack [ARGS]      pack the stack for a bare Python 3.12 GPU machine into gpu_pack/
                       (wheels + patched mmcv sdist; needs network; prints its size)
  gpu-check [--out DIR] [ARGS]
                       the GPU check in three reporting stages (core on CUDA vs CPU and
                       latency; mmcv's CUDA build from gpu_pack/; tests/test_cuda.py and the
                       paper benchmark); without a GPU a dry run (default out: work_dirs/gpu_check)
  <experiment>         evaluate ckpt/<experiment>.pth if present, train, then evaluate
                       (the paper's eight, or det2d/<name>, seg/<name>, pgd/<name>)
  --help               this message

experiments:
$(experiments | sed 's/^/  /')

environment variables:
  LZU_PYTHON   interpreter to use (default: .venv/bin/python, built on first use)
  LZU_TEST_WORKERS  pytest-xdist workers of test / test-all (default: 2; 0: one process)
  WORK_DIR     output root (default: work_dirs)
  DATA_ROOT    dataset root for experiments (default: the config's: data/nuscenes,
               data/argoverse or data/cityscapes)
  GPUS         GPUs to train on (default: all visible)
  SALIENCY     saliency file for LZU experiments (default: the config's, e.g. saliency.pkl;
               built from the training set if missing)
EOF
}

ensure_env() {
    if ! "$PY" -c 'import lzu, mmdet3d' >/dev/null 2>&1; then
        echo "[run.sh] lzu/mmdet3d not importable from $PY: building the environment (first use;"
        echo "[run.sh] about 10 minutes on 2 cores; about a minute once the mmcv wheel is cached)."
    fi
    if [ -n "${LZU_PYTHON:-}" ]; then
        LZU_PYTHON=$PY bash mmdetection3d/install.sh
    else
        bash mmdetection3d/install.sh
    fi
}

run_experiment() {
    name=$1
    shift
    exec "$PY" tools/run_experiment.py "$name" --work-dir "$WORK_DIR/$name" "$@"
}

[ $# -ge 1 ] || { usage; exit 2; }
cmd=$1
shift
case "$cmd" in
    -h | --help | help)
        usage
        ;;
    test)
        # the fast suite (CI); end-to-end runs of minutes are marked slow: `sh run.sh test-all`
        ensure_env
        # two workers, each taking whole test files (a file's tests share their fixtures)
        exec "$PY" -m pytest -m "not slow" -n "${LZU_TEST_WORKERS:-2}" --dist loadfile "$@"
        ;;
    test-all)
        ensure_env
        exec "$PY" -m pytest -n "${LZU_TEST_WORKERS:-2}" --dist loadfile "$@"
        ;;
    demo)
        ensure_env
        if [ "${1:-}" = det2d ]; then
            shift
            exec "$PY" tools/demo_det2d.py --work-dir "$WORK_DIR/demo_det2d" "$@"
        fi
        if [ "${1:-}" = seg ]; then
            shift
            exec "$PY" tools/demo_seg.py --work-dir "$WORK_DIR/demo_seg" "$@"
        fi
        exec "$PY" tools/demo.py --work-dir "$WORK_DIR/demo" "$@"
        ;;
    bench)
        ensure_env
        exec "$PY" tools/evidence.py "$@"
        ;;
    gpu-pack | gpu-check)
        # no ensure_env: the GPU machine runs these with its own python3 (no .venv there)
        if [ -z "${LZU_PYTHON:-}" ] && [ ! -x "$PY" ]; then PY=python3; fi
        if [ "$cmd" = gpu-pack ]; then exec "$PY" tools/gpu_pack.py "$@"; fi
        exec "$PY" tools/gpu_check.py --out "$WORK_DIR/gpu_check" "$@"
        ;;
    *)
        if is_experiment "$cmd"; then
            ensure_env
            run_experiment "$cmd" "$@"
        fi
        echo "run.sh: unknown command or experiment '$cmd'" >&2
        echo "valid commands: test test-all demo bench gpu-pack gpu-check --help" >&2
        echo "valid experiments: $(experiments | tr '\n' ' ')" >&2
        exit 2
        ;;
esac
