"""Several clones: a second clone reuses the installed environment, and its tools run its own lzu."""

import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def test_a_second_clone_reuses_the_environment(tmp_path):
    """The installer's stamp depends on what is installed, not on where the clone is."""
    env = {k: v for k, v in os.environ.items() if k not in ("LZU_CUDA_OPS", "TORCH_CUDA_ARCH_LIST")}
    env["LZU_PYTHON"] = sys.executable
    here = subprocess.run(["bash", "mmdetection3d/install.sh", "--check"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if here.returncode != 0:
        pytest.skip("this environment was built by another version of the installer")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", ROOT, str(clone)], check=True)
    for name in ("mmdetection3d/install.sh", "mmdetection3d/mmcv_build.sh", "mmdetection3d/constraints.txt",
                 "setup.py"):
        (clone / name).write_bytes(open(osp.join(ROOT, name), "rb").read())  # uncommitted edits
    result = subprocess.run(["bash", "mmdetection3d/install.sh", "--check"], cwd=clone, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "nothing to do" in result.stdout, result.stdout[-2000:]


def test_a_second_clone_runs_its_own_lzu_from_its_tools(tmp_path):
    clone = tmp_path / "clone"
    shutil.copytree(osp.join(ROOT, "tools"), clone / "tools")
    shutil.copytree(osp.join(ROOT, "lzu"), clone / "lzu",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(osp.join(ROOT, "run.sh"), clone / "run.sh")
    with open(clone / "lzu" / "__init__.py", "a", encoding="utf-8") as f:
        f.write("\nimport sys as _sys\nprint('LZU OF THE SECOND CLONE', file=_sys.stderr)\n")
    # the environment points at the first clone (an editable install, or PYTHONPATH); the
    # clone's run.sh puts its own checkout first
    env = dict(os.environ, PYTHONPATH=ROOT, LZU_PYTHON=sys.executable, PYTHONWARNINGS="ignore")
    for command in ("gpu-pack", "gpu-check"):
        result = subprocess.run(["sh", str(clone / "run.sh"), command, "--help"],
                                cwd=str(tmp_path), env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "LZU OF THE SECOND CLONE" in result.stderr, command
