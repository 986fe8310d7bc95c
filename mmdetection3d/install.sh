#!/usr/bin/env bash
# Build the lzu environment: torch + mmcv (compiled ops) + mmengine + mmdet +
# mmdet3d + mmsegmentation + nuscenes-devkit, then `pip install -e` the lzu package.
#
# Usage:  bash mmdetection3d/install.sh            # venv at <repo>/.venv
#         bash mmdetection3d/install.sh --check    # exit 0 if ready, 1 if not; installs nothing
#         LZU_PYTHON=/path/to/python bash mmdetection3d/install.sh
#                                                  # install into that env
#
# Environment knobs:
#   LZU_PYTHON      interpreter whose environment receives the stack
#                   (default: <repo>/.venv/bin/python, created if missing)
#   LZU_VENV        where to create the venv when LZU_PYTHON is unset
#   LZU_CACHE_DIR   wheel cache (default: ${XDG_CACHE_HOME:-~/.cache}/lzu)
#   LZU_CUDA_OPS    auto (default) | 1 | 0: compile mmcv's CUDA kernels.
#                   auto = nvcc on PATH *and* a GPU visible to torch.
#   MAX_JOBS        parallel compile jobs (default: number of cores)
#
# Idempotent: on a ready environment it checks a stamp and exits in seconds.
set -euo pipefail
# The body is one brace group, so bash parses all of it before running any of it:
# editing this file while an install runs cannot change what that install does.
{

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CONSTRAINTS="$HERE/constraints.txt"

step() { printf '\n[lzu-install] %s\n' "$*"; }
die() { printf '[lzu-install] ERROR: %s\n' "$*" >&2; exit 1; }
pin() {
    # pin NAME -> the version constraints.txt gives for NAME
    local v
    v=$(sed -n "s/^$1==\([^ #]*\).*/\1/p" "$CONSTRAINTS")
    [ -n "$v" ] || die "no pin for '$1' in $CONSTRAINTS"
    printf '%s' "$v"
}

# patch_mmcv SRC and mmcv_cuda_env PY: the mmcv source patches and the CUDA build's
# environment, shared with tools/gpu_pack.py and tools/gpu_check.py
. "$HERE/mmcv_build.sh"

# ---------------------------------------------------------------- interpreter
if [ -n "${LZU_PYTHON:-}" ]; then
    PY=$LZU_PYTHON
    command -v "$PY" >/dev/null 2>&1 || die "LZU_PYTHON=$PY is not an executable"
    step "using the environment of LZU_PYTHON=$PY"
else
    VENV=${LZU_VENV:-$ROOT/.venv}
    PY=$VENV/bin/python
    if [ ! -x "$PY" ]; then
        BASE=$(command -v python3.11 || command -v python3 || true)
        [ -n "$BASE" ] || die "no python3.11 or python3 on PATH"
        step "creating virtualenv $VENV with $BASE"
        "$BASE" -m venv "$VENV"
    else
        step "using virtualenv $VENV"
    fi
fi
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$PYVER" = "3.11" ] || printf '[lzu-install] warning: Python %s; the stack is pinned and tested on 3.11\n' "$PYVER"
pip_() {
    # this machine's pip.conf lists index folders that may not exist; hide that noise
    "$PY" -m pip --disable-pip-version-check "$@" 2> >(grep -v 'is ignored: it is neither' >&2)
}
PIP=pip_

# ----------------------------------------------------------- ready? (stamp)
# The key is what gets installed (pins, installer, package metadata, the CUDA choice), not
# where this clone is: several clones can share one environment (see README.md).
STAMP_KEY=$( (cat "$CONSTRAINTS" "$0" "$HERE/mmcv_build.sh" "$ROOT/setup.py"; echo "${LZU_CUDA_OPS:-auto} ${TORCH_CUDA_ARCH_LIST:-}") \
    | sha1sum | cut -c1-16)
PREFIX=$("$PY" -c 'import sys; print(sys.prefix)')
STAMP="$PREFIX/.lzu-stack-$STAMP_KEY"
if [ -f "$STAMP" ] && "$PY" -c 'import mmcv.ops, mmdet3d, mmseg, lzu' >/dev/null 2>&1; then
    step "environment is ready ($STAMP); nothing to do"
    exit 0
fi
if [ "${1:-}" = --check ]; then
    step "environment is not ready (no $STAMP): run this script without --check"
    exit 1
fi

# --------------------------------------------------------------------- torch
step "installing build tools and torch $(pin torch) / torchvision $(pin torchvision)"
$PIP install -q -c "$CONSTRAINTS" pip setuptools wheel ninja
$PIP install -q -c "$CONSTRAINTS" torch torchvision

# --------------------------------------------------------------- mmcv wheel
MMCV=$(pin mmcv)
TORCH_VER=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
GPU_ARCH=$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability(0) if torch.cuda.is_available() else "")')
CUDA_OPS=${LZU_CUDA_OPS:-auto}
if [ "$CUDA_OPS" = auto ]; then
    if command -v nvcc >/dev/null 2>&1 && [ -n "$GPU_ARCH" ]; then CUDA_OPS=1; else CUDA_OPS=0; fi
fi
if [ "$CUDA_OPS" = 1 ]; then
    command -v nvcc >/dev/null 2>&1 || die "LZU_CUDA_OPS=1 but nvcc is not on PATH"
    if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
        [ -n "$GPU_ARCH" ] || die "LZU_CUDA_OPS=1 with no visible GPU needs the target architectures, \
or the build compiles for every architecture for hours: set TORCH_CUDA_ARCH_LIST, \
e.g. TORCH_CUDA_ARCH_LIST=9.0 (H100) or \"8.0;8.6\" (A100, RTX 30xx)"
        export TORCH_CUDA_ARCH_LIST=$GPU_ARCH
        step "compiling CUDA kernels for the visible GPU: TORCH_CUDA_ARCH_LIST=$GPU_ARCH (set it to override)"
    fi
    # the architectures are part of the key: a wheel for sm_90 is never reused on sm_80
    ARCH_TAG=sm$(printf '%s' "$TORCH_CUDA_ARCH_LIST" | tr ' ;,' '---' | tr -cd '0-9A-Za-z.+-' | tr '.' '_')
    CUDA_TAG=cu$(nvcc --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1\2/p')-$ARCH_TAG
else
    CUDA_TAG=cpu
fi
CACHE_DIR=${LZU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lzu}
WHEEL_DIR="$CACHE_DIR/wheels/mmcv-$MMCV-torch$TORCH_VER-$CUDA_TAG-py$PYVER"
if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    JOBS=${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}
    step "building mmcv $MMCV with ops ($CUDA_TAG) from its sdist, MAX_JOBS=$JOBS"
    if [ "$CUDA_OPS" = 1 ]; then
        printf '[lzu-install] this compiles CUDA kernels: about an hour on 2 cores per architecture (MAX_JOBS=%s).\n' "$JOBS"
    else
        printf '[lzu-install] this is a one-time build of 12-17 CPU-minutes (about 8 minutes on 2 cores);\n'
    fi
    printf '[lzu-install] the wheel is cached in %s for every later clone.\n' "$WHEEL_DIR"
    BUILD=$(mktemp -d)
    trap 'rm -rf "$BUILD"' EXIT
    $PIP download -q --no-deps --no-binary mmcv "mmcv==$MMCV" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-"$MMCV".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV"
    patch_mmcv "$SRC" || die "could not patch mmcv's sources in $SRC"
    if [ "$CUDA_OPS" = 1 ]; then
        mmcv_cuda_env "$PY" || die "no CUDA build environment (see above)"
    else
        unset FORCE_CUDA
    fi
    MMCV_WITH_OPS=1 MAX_JOBS=$JOBS $PIP wheel -q --no-build-isolation --no-deps "$SRC" -w "$BUILD/out"
    mkdir -p "$WHEEL_DIR"
    # copy then rename: a killed build never leaves a truncated cached wheel
    for w in "$BUILD"/out/mmcv-*.whl; do
        cp "$w" "$WHEEL_DIR/.$(basename "$w").part"
        mv "$WHEEL_DIR/.$(basename "$w").part" "$WHEEL_DIR/$(basename "$w")"
    done
else
    step "reusing cached mmcv wheel from $WHEEL_DIR"
fi
$PIP install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl

# ---------------------------------------------------------------- the rest
step "installing mmengine, mmdet, mmsegmentation, nuscenes-devkit and the runtime dependencies"
$PIP install -q -c "$CONSTRAINTS" \
    numpy opencv-python mmengine mmdet mmsegmentation nuscenes-devkit ftfy regex prettytable wcwidth \
    addict yapf pyyaml packaging rich termcolor pycocotools shapely six \
    terminaltables tqdm numba llvmlite pandas trimesh plyfile scikit-image \
    scikit-learn tensorboard networkx pyquaternion cachetools descartes fire \
    parameterized matplotlib scipy pillow pytest pytest-xdist ruff
step "installing mmdet3d $(pin mmdet3d) and lyft-dataset-sdk --no-deps"
$PIP install -q --no-deps "mmdet3d==$(pin mmdet3d)" "lyft-dataset-sdk==$(pin lyft-dataset-sdk)"

step "installing lzu (editable)"
$PIP install -q --no-deps --no-build-isolation -e "$ROOT"

step "checking the stack"
"$PY" - <<'EOF'
import mmcv, mmcv.ops, mmengine, mmdet, mmdet3d, mmseg, torch, numpy, lzu
import mmseg.models, mmseg.evaluation  # noqa: F401  (module-level imports: ftfy, regex, prettytable)
from mmcv.ops import ModulatedDeformConv2dPack, nms_rotated  # compiled ops
print(f"torch {torch.__version__} | mmcv {mmcv.__version__} | mmengine {mmengine.__version__} | "
      f"mmdet {mmdet.__version__} | mmdet3d {mmdet3d.__version__} | mmseg {mmseg.__version__} | numpy {numpy.__version__} | "
      f"lzu {lzu.__version__} | cuda available: {torch.cuda.is_available()}")
EOF
rm -f "$PREFIX"/.lzu-stack-*
touch "$STAMP"
step "done: $PY"
exit 0
}
