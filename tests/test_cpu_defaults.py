"""Busy machines: every tool sets its CPU defaults (OpenMP waits passively, threads from the
cores this process may use) before torch loads, and no test can fail because a machine is slow."""

import ast
import glob
import os
import os.path as osp
import subprocess
import sys

from conftest import ROOT

TOOLS = sorted(p for p in glob.glob(osp.join(ROOT, "tools", "*.py"))
               if osp.basename(p) != "_checkout.py")


def _first_import(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            return node.names[0].name if isinstance(node, ast.Import) else node.module
    return None


def test_every_tool_sets_cpu_defaults_and_its_checkout_before_anything_else():
    """Each tool's first import is ``_checkout``: OpenMP passive, threads from the usable
    cores, this checkout's lzu, all before torch loads."""
    assert TOOLS
    for path in TOOLS:
        assert _first_import(path) == "_checkout", path


def test_cpu_defaults_follow_the_cores_this_process_may_use():
    code = ("import os, sys; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            f"sys.path.insert(0, {osp.join(ROOT, 'tools')!r}); import _checkout, torch; "
            "print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["PASSIVE", "1"]
    mine = dict(env, OMP_WAIT_POLICY="ACTIVE")  # what the user exported wins
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=mine)
    assert out.stdout.split()[0] == "ACTIVE"


def test_cgroup_cpu_quota_caps_the_cores(tmp_path):
    from lzu.infra.cpu import _cgroup_quota_cores

    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    assert _cgroup_quota_cores(str(quota)) == 2
    quota.write_text("max 100000\n")
    assert _cgroup_quota_cores(str(quota)) is None
    assert _cgroup_quota_cores(str(tmp_path / "absent")) is None


def test_no_test_can_fail_because_the_machine_is_slow():
    """No subprocess timeout anywhere in the tests (a busy machine makes a test slow only)."""
    for path in glob.glob(osp.join(ROOT, "tests", "*.py")):
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                assert not any(k.arg == "timeout" for k in node.keywords), \
                    f"{path}:{node.lineno} passes a timeout"
            if isinstance(node, ast.FunctionDef):
                assert not any(isinstance(a, ast.arg) and a.arg == "timeout"
                               for a in node.args.args), f"{path}:{node.lineno}"
