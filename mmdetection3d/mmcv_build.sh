# Shell functions that build mmcv 2.1.0 on this stack; sourced (`. mmcv_build.sh`) by
# install.sh (the environment), tools/gpu_pack.py (the GPU pack's patched sdist) and
# tools/gpu_check.py (the CUDA build on a GPU machine), so each is written once.
# POSIX sh; the functions print their errors to stderr and return non-zero.

# patch_mmcv SRC: the minimal source patches mmcv 2.1.0 needs on this stack (torch >= 2.6)
patch_mmcv() {
    # torch >= 2.6 headers need C++20; mmcv 2.1.0 hard-codes C++17 (for g++ and nvcc)
    sed -i 's/-std=c++17/-std=c++20/g' "$1/setup.py" || return 1
    if ! grep -q -- '-std=c++20' "$1/setup.py" || grep -q -- '-std=c++17' "$1/setup.py"; then
        echo "patch_mmcv: could not patch the C++ standard in $1/setup.py" >&2
        return 1
    fi
}

# mmcv_cuda_env PY: export what compiling mmcv's CUDA kernels for the interpreter PY needs
# (FORCE_CUDA, CUDA_HOME, CPATH); prints the toolkit it found
mmcv_cuda_env() {
    command -v nvcc >/dev/null 2>&1 || { echo "mmcv_cuda_env: nvcc is not on PATH" >&2; return 1; }
    FORCE_CUDA=1
    export FORCE_CUDA
    # nvcc may be a wrapper script (torch would then take CUDA_HOME=/usr/local and miss
    # the toolkit's headers): ask nvcc where its toolkit is
    if [ -z "${CUDA_HOME:-}" ]; then
        CUDA_HOME=$(nvcc --dryrun -c -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)
        if [ -n "$CUDA_HOME" ]; then
            CUDA_HOME=$(cd "$CUDA_HOME" && pwd -P)
            export CUDA_HOME
        fi
    fi
    echo "CUDA toolkit: ${CUDA_HOME:-not found by nvcc --dryrun}"
    # torch's CUDA headers include cuSPARSE/cuBLAS/... headers that pip's nvidia-* wheels
    # ship next to torch and a minimal CUDA toolkit lacks: add them after the toolkit's
    _nv_include=$("$1" -c 'import glob, os, sysconfig
print(":".join(sorted(glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "nvidia", "*", "include")))))')
    if [ -n "$_nv_include" ]; then
        CPATH="$_nv_include${CPATH:+:$CPATH}"
        export CPATH
    fi
}
