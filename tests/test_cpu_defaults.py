"""Busy machines: the tools' bootstrap sets the CPU defaults (OpenMP waits passively, threads
from the cores this process may use) before torch loads (``tests/test_tools.py`` checks that
every tool calls it first), and no test can fail because a machine is slow."""

import ast
import glob
import os
import os.path as osp
import subprocess
import sys

from conftest import ROOT


def test_cpu_defaults_follow_the_cores_this_process_may_use():
    code = ("import os, sys; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            f"sys.path.insert(0, {ROOT!r}); from lzu.infra.bootstrap import bootstrap; "
            "bootstrap(); import torch; "
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


def _real_clock_budgets(tree):
    """``(line, what)`` of each wall-clock budget in a test's code: a ``*budget*`` or
    ``*deadline*`` keyword of a call given no ``clock`` of its own, or a deadline on the real
    clock (``time.time() + n``, ``time.monotonic() + n``, ``time.perf_counter() + n``)."""
    clocks = ("time", "monotonic", "perf_counter")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            keywords = {k.arg for k in node.keywords}
            for k in node.keywords:
                if k.arg and ("budget" in k.arg or "deadline" in k.arg) and "clock" not in keywords:
                    yield node.lineno, f"{k.arg}= on the real clock"
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            for side in (node.left, node.right):
                if (isinstance(side, ast.Call) and isinstance(side.func, ast.Attribute)
                        and side.func.attr in clocks and isinstance(side.func.value, ast.Name)
                        and side.func.value.id == "time"):
                    yield node.lineno, "a deadline on the real clock"


def test_no_test_can_fail_because_the_machine_is_slow():
    """No subprocess timeout anywhere in the tests, and no wall-clock budget or deadline (a busy
    machine makes a test slow only): code under a time budget is tested with a clock of the
    test's own."""
    for path in glob.glob(osp.join(ROOT, "tests", "*.py")):
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                assert not any(k.arg == "timeout" for k in node.keywords), \
                    f"{path}:{node.lineno} passes a timeout"
            if isinstance(node, ast.FunctionDef):
                assert not any(isinstance(a, ast.arg) and a.arg == "timeout"
                               for a in node.args.args), f"{path}:{node.lineno}"
        assert not list(_real_clock_budgets(tree)), f"{path}: {list(_real_clock_budgets(tree))}"


def test_the_slow_machine_check_catches_a_budget_and_a_deadline():
    planted = ("def test_x(tmp_path):\n"
               "    r = gc.Report(str(tmp_path), budget_s=gc.REPORT_RESERVE_S + 1.5)\n"
               "    end = time.monotonic() + 5\n"
               "    ok = gc.Report(str(tmp_path), budget_s=60, clock=lambda: 0.0)\n")
    assert [line for line, _ in _real_clock_budgets(ast.parse(planted))] == [2, 3]
