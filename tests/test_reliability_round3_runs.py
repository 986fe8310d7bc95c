"""Reliability, round three: busy machines, determinism, results never lost or mixed, symlinks,
half-written data, optimizer layout on resume, full disks, own checkout, exact seg resume,
the benchmark on every task."""

import ast
import errno
import glob
import json
import os
import os.path as osp
import pickle
import shutil
import subprocess
import sys
import threading
import time

import pytest
import torch
from conftest import ROOT, run_tool
from test_reliability import assert_clean_error

from lzu.apis.runtime import load_config
from lzu.infra.errors import UserInputError

LZU_DEMO = "configs/demo/lzu_fcos3d_demo.py"
SEG_LZU = "configs/seg/demo/lzu_fcn_demo.py"
SEG_UNIFORM = "configs/seg/demo/fcn_uniform_demo.py"


def load_tool(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"tool3_{name}", osp.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def small_cityscapes(tmp_path_factory):
    from lzu.data.synthetic import write_synthetic_cityscapes

    root = str(tmp_path_factory.mktemp("cs3"))
    write_synthetic_cityscapes(root, train_frames=4, val_frames=2, size=(64, 128), seed=0)
    return root


# ------------------------------------------------------------ 1. busy machine


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


# ------------------------------------------------------------ 2. determinism


def _seg_train(work, root, iters, extra=(), opts=(), config=SEG_LZU):
    return run_tool(["tools/train.py", config, "--work-dir", str(work), "--data-root", root,
                     *extra, "--cfg-options", f"model.grid_generator.saliency_file={root}/s.pkl",
                     "model.grid_generator.output_shape=(32,64)", f"train_cfg.max_iters={iters}",
                     "train_cfg.val_interval=100", "val_cfg=None", "val_dataloader=None",
                     "val_evaluator=None", "train_dataloader.batch_size=2",
                     "train_dataloader.num_workers=1", "default_hooks.checkpoint.interval=2",
                     "default_hooks.checkpoint.max_keep_ckpts=-1", "param_scheduler.0.end=4",
                     *opts])


@pytest.fixture(scope="module")
def seg_root(small_cityscapes):
    saliency = osp.join(small_cityscapes, "s.pkl")
    if not osp.isfile(saliency):
        result = run_tool(["tools/make_saliency.py", "--seg-labels",
                           osp.join(small_cityscapes, "gtFine", "train"), "--out", saliency])
        assert result.returncode == 0, result.stderr[-2000:]
    return small_cityscapes


@pytest.fixture(scope="module")
def seg_two_iters(seg_root, tmp_path_factory):
    """The LZU seg demo config trained for 2 iterations (its work dir; copy it to resume)."""
    work = tmp_path_factory.mktemp("seg2") / "w"
    result = _seg_train(work, seg_root, 2)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return work


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_the_train_and_test_tools_use_deterministic_cpu_kernels(seg_root, tmp_path, monkeypatch):
    """oneDNN's convolutions may reduce in an order set by thread timing; on a busy machine two
    runs of one seed drifted apart (README). The tools switch its deterministic mode on."""
    from mmengine.runner import Runner

    from lzu.apis import entrypoints

    seen = []

    class Stop(Exception):
        pass

    def from_cfg(cfg):
        seen.append(torch.backends.mkldnn.deterministic)
        raise Stop

    monkeypatch.setattr(Runner, "from_cfg", from_cfg)
    before = torch.backends.mkldnn.deterministic
    torch.backends.mkldnn.deterministic = False
    try:
        with pytest.raises(Stop):
            entrypoints.train_main([SEG_UNIFORM, "--work-dir", str(tmp_path / "w"),
                                    "--data-root", seg_root])
    finally:
        torch.backends.mkldnn.deterministic = before
    assert seen == [True]


def test_seg_training_is_deterministic_and_its_resume_bit_exact(seg_root, seg_two_iters,
                                                                 tmp_path):
    """Two runs with one seed give the same weights bit for bit; a run resumed at iteration 2
    (dropout in the decode head draws from torch's RNG) ends with them too."""
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for work in (a, b):
        result = _seg_train(work, seg_root, 4)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    shutil.copytree(seg_two_iters, c)
    for lock in c.glob(".*.lock"):
        lock.unlink()
    resumed = _seg_train(c, seg_root, 4, ["--resume"])
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert "resuming from" in resumed.stderr
    wa, wb, wc = (_weights(w / "iter_4.pth") for w in (a, b, c))
    for key, value in wa.items():
        assert torch.equal(wb[key], value), f"two runs differ at {key}"
        assert torch.equal(wc[key], value), f"the resumed run differs at {key}"
    ckpt = torch.load(c / "iter_2.pth", map_location="cpu", weights_only=True)
    assert isinstance(ckpt["rng_state"]["torch"], torch.Tensor)


# ------------------------------------------------------------ 3. results lost or mixed


def test_an_evaluation_id_covers_the_data_root_and_the_split(tmp_path, synthetic_root):
    from lzu.apis.entrypoints import evaluation_provenance

    ckpt = tmp_path / "iter_1.pth"
    ckpt.write_bytes(b"weights")
    other_root = tmp_path / "other"
    shutil.copytree(synthetic_root, other_root)
    ids = {
        evaluation_provenance(load_config(LZU_DEMO, data_root=synthetic_root), str(ckpt),
                              None)["evaluation_id"],
        evaluation_provenance(load_config(LZU_DEMO, data_root=str(other_root)), str(ckpt),
                              None)["evaluation_id"],
        evaluation_provenance(load_config(
            LZU_DEMO, {"test_dataloader.dataset.ann_file": "nuscenes_infos_train.pkl"},
            data_root=synthetic_root), str(ckpt), None)["evaluation_id"],
        evaluation_provenance(load_config(  # the evaluator's ground truth
            LZU_DEMO, {"test_evaluator.ann_file": f"{synthetic_root}/nuscenes_infos_train.pkl"},
            data_root=synthetic_root), str(ckpt), None)["evaluation_id"],
    }
    assert len(ids) == 4


@pytest.mark.parametrize("change, key", [
    ({"optim_wrapper.optimizer.lr": 0.1}, "optim_wrapper.optimizer.lr"),
    ({"param_scheduler.1.milestones": [100]}, "param_scheduler"),
    ({"train_dataloader.dataset.ann_file": "nuscenes_infos_val.pkl"}, "data.ann_file"),
    ({"randomness.seed": 5}, "randomness.seed"),
])
def test_resume_with_another_lr_schedule_data_or_seed_is_refused(tmp_path, change, key):
    from lzu.apis.fingerprint import run_fingerprint
    from lzu.infra.workdir import check_run_fingerprint

    check_run_fingerprint(str(tmp_path), run_fingerprint(load_config(LZU_DEMO)))
    (tmp_path / "iter_100.pth").write_bytes(b"x")
    check_run_fingerprint(str(tmp_path), run_fingerprint(
        load_config(LZU_DEMO, {"train_cfg.max_iters": 600, "train_dataloader.num_workers": 0})))
    with pytest.raises(UserInputError, match=key.replace(".", r"\.")):
        check_run_fingerprint(str(tmp_path), run_fingerprint(load_config(LZU_DEMO, change)))


def test_resume_with_another_data_root_is_refused(tmp_path):
    from lzu.apis.fingerprint import run_fingerprint
    from lzu.infra.workdir import check_run_fingerprint

    check_run_fingerprint(str(tmp_path), run_fingerprint(load_config(LZU_DEMO)))
    (tmp_path / "iter_100.pth").write_bytes(b"x")
    moved = load_config(LZU_DEMO, data_root=str(tmp_path / "elsewhere"))
    with pytest.raises(UserInputError, match="data_root"):
        check_run_fingerprint(str(tmp_path), run_fingerprint(moved))


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


def test_a_second_demo_in_one_work_dir_is_refused(tmp_path):
    from lzu.infra.workdir import acquire_lock

    work = tmp_path / "demo"
    acquire_lock(str(work))  # a demo running there
    result = run_tool(["tools/demo_seg.py", "--work-dir", str(work), "--iters", "1",
                       "--frames", "1", "1", "--size", "32"])
    assert_clean_error(result, "is in use by another run", f"PID {os.getpid()}")
    assert os.listdir(work) == [".lzu.lock"]


# ------------------------------------------------------------ 4. symlinks


def test_a_planted_lock_link_never_touches_its_target(tmp_path):
    from lzu.infra.workdir import acquire_lock

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".lzu.lock").symlink_to(victim)
    with pytest.raises(UserInputError, match="symbolic link"):
        acquire_lock(str(work))
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("name", ["last_checkpoint", "lzu_demo.py", "vis"])
def test_a_work_dir_holding_a_link_is_refused_before_anything_is_written(tmp_path, name):
    from mmengine.config import Config

    from lzu.apis.entrypoints import _claim_work_dir

    outside = tmp_path / "outside"
    outside.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / name).symlink_to(outside if name == "vis" else outside / "file")
    with pytest.raises(UserInputError, match=f"symbolic link '{work / name}'"):
        _claim_work_dir(Config(dict(work_dir=str(work), model=dict(type="x"))))
    assert os.listdir(outside) == []


def test_stale_temporary_cleanup_never_follows_a_directory_link(tmp_path):
    from lzu.infra.workdir import remove_stale_tmp

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".keep.abc.tmp").write_text("not ours")
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / ".epoch_1.pth.xyz.tmp").write_text("ours")
    (work / "link").symlink_to(outside)
    assert remove_stale_tmp(str(work)) == [str(work / "sub" / ".epoch_1.pth.xyz.tmp")]
    assert (outside / ".keep.abc.tmp").read_text() == "not ours"


def test_synthetic_sets_never_write_through_planted_links(tmp_path):
    from lzu.data.synthetic import write_synthetic_cityscapes

    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious")
    root = tmp_path / "cs"
    write_synthetic_cityscapes(str(root), 1, 1, (32, 64), 0)
    marker = root / ".lzu_synthetic_cityscapes"
    marker.unlink()
    marker.symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_synthetic_cityscapes(str(root), 1, 1, (32, 64), 0)
    assert victim.read_text() == "precious"
    marker.unlink()
    marker.write_text("{}")  # the set is ours again
    write_synthetic_cityscapes(str(root), 1, 1, (32, 64), 0)
    shutil.rmtree(root / "gtFine")
    (root / "gtFine").symlink_to(outside)  # a planted folder link in our own set
    write_synthetic_cityscapes(str(root), 1, 1, (32, 64), 0)
    assert os.listdir(outside) == ["victim.txt"] and victim.read_text() == "precious"
    assert not (root / "gtFine").is_symlink()


# ------------------------------------------------------------ 5. half-written data


def test_an_interrupted_synthetic_set_is_never_taken_as_complete(tmp_path, monkeypatch):
    from lzu.data.synthetic import cityscapes_writer
    from lzu.data.synthetic.completion import check_complete

    options = dict(train_frames=3, val_frames=2, size=[32, 64], seed=0)
    root = tmp_path / "cs"
    real, calls = cityscapes_writer.render_frame, []

    def killed(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # a kill half-way through
        return real(*args)

    monkeypatch.setattr(cityscapes_writer, "render_frame", killed)
    with pytest.raises(KeyboardInterrupt):
        cityscapes_writer.write_synthetic_cityscapes(str(root), 3, 2, (32, 64), 0)
    assert (root / "gtFine" / "train").is_dir()  # what the demos used to trust
    assert "no completion record" in check_complete(str(root), options)
    monkeypatch.setattr(cityscapes_writer, "render_frame", real)
    cityscapes_writer.write_synthetic_cityscapes(str(root), 3, 2, (32, 64), 0)
    assert check_complete(str(root), options) is None
    assert "other options" in check_complete(str(root), dict(options, seed=1))
    label = sorted((root / "gtFine" / "val").rglob("*.png"))[-1]
    label.write_bytes(label.read_bytes()[:100])  # truncated afterwards
    assert "bytes" in check_complete(str(root), options)


def test_the_demos_regenerate_an_incomplete_set_and_what_was_made_from_it(tmp_path):
    demo = load_tool("demo")
    from lzu.data.synthetic import write_synthetic_cityscapes
    from lzu.data.synthetic.completion import COMPLETE_FILE

    root = tmp_path / "data"
    write_synthetic_cityscapes(str(root), 2, 1, (32, 64), 0)
    (root / COMPLETE_FILE).unlink()  # killed before the end
    stale = tmp_path / "saliency.pkl"
    stale.write_bytes(b"made from the old set")
    options = dict(train_frames=2, val_frames=1, size=[32, 64], seed=0)
    cmd = [sys.executable, "tools/make_synthetic_cityscapes.py", "--root", str(root),
           "--train-frames", "2", "--val-frames", "1", "--size", "32", "64"]
    assert demo.ensure_synthetic(str(root), options, cmd, [str(stale)], "1/5") is True
    assert not stale.exists()
    assert demo.ensure_synthetic(str(root), options, cmd, [str(stale)], "1/5") is False


def test_regenerating_a_nuscenes_set_removes_its_old_info_files(tmp_path):
    from lzu.data.synthetic import write_synthetic_nuscenes

    root = tmp_path / "nusc"
    write_synthetic_nuscenes(str(root), train_scenes=1, val_scenes=1, samples_per_scene=2)
    (root / "nuscenes_infos_val.pkl").write_bytes(b"infos of the old split")
    write_synthetic_nuscenes(str(root), train_scenes=1, val_scenes=1, samples_per_scene=2, seed=1)
    assert not (root / "nuscenes_infos_val.pkl").exists()


# ------------------------------------------------------------ 6. optimizer layout on resume


def test_resume_with_another_optimizer_layout_gives_one_clear_message(seg_root, seg_two_iters,
                                                                      tmp_path):
    ckpt = str(seg_two_iters / "iter_2.pth")
    config = tmp_path / "grouped.py"  # one parameter group per tensor instead of one in all
    config.write_text(f"_base_ = [{osp.join(ROOT, SEG_LZU)!r}]\n"
                      "optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))\n")
    result = _seg_train(tmp_path / "b", seg_root, 4, ["--resume", ckpt], config=str(config))
    assert_clean_error(result, f"cannot resume from '{ckpt}'",
                       "does not fit this run's optimizer", "load_from")


# ------------------------------------------------------------ 7. disk full


def test_disk_full_leaves_nothing_half_written(tmp_path, monkeypatch):
    from lzu.infra.atomic_io import DiskFullError, atomic_write_json

    path = tmp_path / "metrics.json"
    atomic_write_json(str(path), {"old": 1})

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError, match="no space left on the device writing"):
        atomic_write_json(str(path), {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_disk_full_in_a_tool_is_one_line(tmp_path, small_cityscapes):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import errno, os\n"
        "def _full(fd):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "os.fsync = _full\n")
    out = tmp_path / "s.pkl"
    result = run_tool(["tools/make_saliency.py", "--seg-labels",
                       osp.join(small_cityscapes, "gtFine", "train"), "--out", str(out)],
                      env={"PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert_clean_error(result, "no space left on the device", str(out))
    assert sorted(os.listdir(tmp_path)) == ["site"]


# ------------------------------------------------------------ 8. a second clone


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


# ------------------------------------------------------------ 9. the benchmark on every task


@pytest.mark.parametrize("configs, data", [
    (["configs/det2d/demo/fcos_uniform_demo.py", "configs/det2d/demo/lzu_fcos_demo.py"], None),
    pytest.param(["configs/det2d/faster_rcnn_uniform_0.50.py",
                  "configs/det2d/lzu_faster_rcnn_0.50.py"], None, marks=pytest.mark.slow),
    ([SEG_UNIFORM, SEG_LZU], "cityscapes"),
])
def test_benchmark_runs_on_2d_detection_and_segmentation_configs(tmp_path, small_cityscapes,
                                                                 seg_root, configs, data):
    opts = []
    if data:
        opts = ["--data-root", small_cityscapes, "--saliency", osp.join(seg_root, "s.pkl")]
    else:
        saliency = tmp_path / "s.pkl"
        saliency.write_bytes(pickle.dumps(torch.rand(1, 1, 27, 48) + 0.1))
        opts = ["--saliency", str(saliency), "--frame-size", "320", "192"]
    result = run_tool(["tools/benchmark.py", *configs, "--warmup", "1", "--iters", "1",
                       "--out-dir", str(tmp_path / "bench"), "--paper-results", "", *opts])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    report = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert [r["family"] for r in report["rows"]] == ["uniform", "lzu"]
    for row in report["rows"]:
        assert row["latency_ms"] > 0 and row["backbone_neck_ms"] > 0 and row["head_ms"] > 0
        assert row["inputs"] == ("dataset" if data else "fake")
    assert report["rows"][1]["zoom_ms"] > 0
