"""Two runs wanting one resource: the second waits for the first and reuses what it made."""

import os
import pickle
import subprocess
import sys
import threading
import time

import torch
from conftest import ROOT
from helpers import load_tool


def test_a_lock_makes_the_second_holder_wait(tmp_path):
    from lzu.infra.workdir import locked

    path = str(tmp_path / ".x.lock")
    code = (f"import sys; sys.path.insert(0, {ROOT!r}); from lzu.infra.workdir import locked\n"
            f"with locked({path!r}, 'the test resource'): print('got it', flush=True)")
    with locked(path, "the test"):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        first = proc.stderr.readline()  # blocks until the second holder says it waits
        assert "waiting for the test resource" in first and f"PID {os.getpid()}" in first
        assert proc.poll() is None, "the second holder did not wait"
    out, _ = proc.communicate()
    assert proc.returncode == 0 and out.strip() == "got it"


def test_two_experiments_build_one_saliency_once(tmp_path, monkeypatch, capsys):
    """The second waits for the first's build instead of building it again beside it."""
    from lzu.infra.workdir import locked

    tool = load_tool("run_experiment")
    monkeypatch.delenv("SALIENCY", raising=False)
    path = tmp_path / "s.pkl"
    builds = []

    def fake_run(cmd):
        builds.append(cmd)
        path.write_bytes(pickle.dumps(torch.ones(1, 1, 27, 48)))

    monkeypatch.setattr(tool, "run", fake_run)
    opts = ["--cfg-options", f"model.grid_generator.saliency_file={path}"]
    lock = tmp_path / ".s.pkl.lock"
    with locked(str(lock), "the test"):  # a first experiment is building it
        second = threading.Thread(target=tool.ensure_saliency,
                                  args=("configs/lzu_fcos3d_0.25.py", str(tmp_path), opts))
        second.start()
        err = ""
        while second.is_alive() and "waiting for the saliency" not in err:
            err += capsys.readouterr().err
            time.sleep(0.1)
        assert not builds and second.is_alive(), "the second experiment did not wait"
        path.write_bytes(pickle.dumps(torch.ones(1, 1, 27, 48)))  # the first one's result
    second.join(120)
    assert not second.is_alive() and builds == []
