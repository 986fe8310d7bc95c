"""Resume and determinism: a run resumes only with the settings it was started with, from its
newest complete checkpoint (after a kill too) and ends where an uninterrupted run ends; two runs
of one seed, and two evaluations of one checkpoint, give the same numbers."""

import json
import os
import os.path as osp
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, run_tool
from helpers import LZU, LZU_PATH, NO_VAL, QUIET, QUIET_TRAIN, assert_clean_error, write_saliency

import lzu.openmmlab  # noqa: F401  (checkpoint allowlist, atomic backend)
from lzu.apis.runtime import load_config
from lzu.infra.errors import UserInputError

LZU_DEMO = LZU
SEG_LZU = "configs/seg/demo/lzu_fcn_demo.py"
SEG_UNIFORM = "configs/seg/demo/fcn_uniform_demo.py"


# ------------------------------------------------------------ what may resume


def test_differently_configured_run_cannot_resume_or_overwrite(tmp_path):
    from lzu.apis.fingerprint import run_fingerprint
    from lzu.infra.workdir import check_run_fingerprint

    cfg = load_config(LZU_PATH)
    check_run_fingerprint(str(tmp_path), run_fingerprint(cfg))
    (tmp_path / "iter_100.pth").write_bytes(b"x")
    longer = load_config(LZU_PATH, {"train_cfg.max_iters": 600})
    check_run_fingerprint(str(tmp_path), run_fingerprint(longer))  # extending is resuming
    other = load_config(LZU_PATH, {"model.grid_generator.output_shape": (450, 800)})
    with pytest.raises(UserInputError, match=r"output_shape.*\[225, 400\] -> \[450, 800\]"):
        check_run_fingerprint(str(tmp_path), run_fingerprint(other))
    saliency = tmp_path / "other.pkl"
    with open(saliency, "wb") as f:
        pickle.dump(torch.rand(1, 1, 27, 48), f)
    moved = load_config(LZU_PATH, {"model.grid_generator.saliency_file": str(saliency)})
    with pytest.raises(UserInputError, match="saliency"):
        check_run_fingerprint(str(tmp_path), run_fingerprint(moved))


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


def test_resume_skips_a_truncated_newest_checkpoint_and_stale_tmp_files_go(tmp_path):
    from lzu.infra.workdir import latest_valid_checkpoint, remove_stale_tmp

    torch.save({"x": torch.ones(3)}, tmp_path / "iter_100.pth")
    torch.save({"x": torch.ones(300)}, tmp_path / "iter_200.pth")
    data = (tmp_path / "iter_200.pth").read_bytes()
    (tmp_path / "iter_200.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "iter_200.pth"))
    path, skipped = latest_valid_checkpoint(str(tmp_path))
    assert path == str(tmp_path / "iter_100.pth") and skipped == [str(tmp_path / "iter_200.pth")]
    stale = tmp_path / ".iter_300.pth.k2j3.tmp"
    stale.write_bytes(b"partial")
    assert remove_stale_tmp(str(tmp_path)) == [str(stale)] and not stale.exists()


# ------------------------------------------------------------ segmentation runs: deterministic, resumed bit for bit


def _seg_train(work, root, iters, extra=(), opts=(), config=SEG_LZU, env=None):
    return run_tool(["tools/train.py", config, "--work-dir", str(work), "--data-root", root,
                     *extra, "--cfg-options", f"model.grid_generator.saliency_file={root}/s.pkl",
                     "model.grid_generator.output_shape=(32,64)", f"train_cfg.max_iters={iters}",
                     "train_cfg.val_interval=100", "val_cfg=None", "val_dataloader=None",
                     "val_evaluator=None", "train_dataloader.batch_size=2",
                     "train_dataloader.num_workers=1", "default_hooks.checkpoint.interval=2",
                     "default_hooks.checkpoint.max_keep_ckpts=-1", "param_scheduler.0.end=4",
                     *opts], env=env)


def _seg_trained(tmp_path_factory, root, iters):
    """A fresh work dir with the LZU seg demo config trained ``iters`` iterations in it."""
    work = tmp_path_factory.mktemp(f"seg{iters}") / "w"
    result = _seg_train(work, root, iters)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return work


@pytest.fixture(scope="module")
def seg_two_iters(seg_saliency_root, tmp_path_factory):
    """The LZU seg demo config trained for 2 iterations (its work dir; copy it to resume)."""
    return _seg_trained(tmp_path_factory, seg_saliency_root, 2)


@pytest.fixture(scope="module")
def seg_four_iters(seg_saliency_root, tmp_path_factory):
    """The LZU seg demo config trained for 4 iterations without a break (its work dir)."""
    return _seg_trained(tmp_path_factory, seg_saliency_root, 4)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_the_train_and_test_tools_use_deterministic_cpu_kernels(seg_saliency_root, tmp_path, monkeypatch):
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
                                    "--data-root", seg_saliency_root])
    finally:
        torch.backends.mkldnn.deterministic = before
    assert seen == [True]


def test_seg_training_is_deterministic_and_its_resume_bit_exact(seg_saliency_root, seg_two_iters,
                                                                 seg_four_iters, tmp_path):
    """Two runs with one seed give the same weights bit for bit; a run resumed at iteration 2
    (dropout in the decode head draws from torch's RNG) ends with them too, also in a copy of
    its work dir without the run record."""
    a, b, c = seg_four_iters, tmp_path / "b", tmp_path / "c"
    for work in (b,):
        result = _seg_train(work, seg_saliency_root, 4)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    _copy_run(seg_two_iters, c)
    (c / "lzu_run.json").unlink()  # the checkpoint's own record decides
    resumed = _seg_train(c, seg_saliency_root, 4, ["--resume"])
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert "resuming from" in resumed.stderr
    wa, wb, wc = (_weights(w / "iter_4.pth") for w in (a, b, c))
    for key, value in wa.items():
        assert torch.equal(wb[key], value), f"two runs differ at {key}"
        assert torch.equal(wc[key], value), f"the resumed run differs at {key}"
    ckpt = torch.load(c / "iter_2.pth", map_location="cpu", weights_only=True)
    assert isinstance(ckpt["rng_state"]["torch"], torch.Tensor)


def test_resume_with_another_optimizer_layout_gives_one_clear_message(seg_saliency_root, seg_two_iters,
                                                                      tmp_path):
    """The checkpoint's fingerprint names the changed optimizer setting; a checkpoint that
    records none, resumed with --resume-unchecked, fails at its optimizer state, also in one
    message."""
    ckpt = str(seg_two_iters / "iter_2.pth")
    config = tmp_path / "grouped.py"  # one parameter group per tensor instead of one in all
    config.write_text(f"_base_ = [{osp.join(ROOT, SEG_LZU)!r}]\n"
                      "optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))\n")
    result = _seg_train(tmp_path / "b", seg_saliency_root, 4, ["--resume", ckpt], config=str(config))
    assert_clean_error(result, f"cannot resume from '{ckpt}'", "optim_wrapper.paramwise_cfg",
                       "load_from")
    unrecorded = tmp_path / "iter_2.pth"
    shutil.copy(ckpt, unrecorded)
    _strip_meta(unrecorded, "lzu_fingerprint", "cfg")
    result = _seg_train(tmp_path / "c", seg_saliency_root, 4,
                        ["--resume", str(unrecorded), "--resume-unchecked"], config=str(config))
    assert_clean_error(result, f"cannot resume from '{unrecorded}'",
                       "does not fit this run's optimizer", "load_from")


def _copy_run(src, dst):
    """A copy of work dir ``src`` at ``dst``, without its lock files."""
    shutil.copytree(src, dst)
    for lock in dst.glob(".*.lock"):
        lock.unlink()
    return dst


def _error_line(result):
    """The one ``error:`` line of a refused tool run (no traceback, exit status 1)."""
    assert_clean_error(result)
    lines = [ln for ln in result.stderr.splitlines() if "error: " in ln]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def _strip_meta(path, *keys):
    """Rewrite checkpoint ``path`` without ``meta[key]`` for each key (as older versions, or
    other programs, saved it)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    for key in keys:
        del ckpt["meta"][key]
    torch.save(ckpt, path)


@pytest.mark.parametrize("resume", [["--resume"], []])
def test_a_work_dir_without_its_record_is_checked_against_its_newest_checkpoint(
        seg_saliency_root, seg_two_iters, tmp_path, resume):
    """Deleting ``lzu_run.json`` (or copying checkpoints into a work dir) no longer lets a run
    with another learning rate resume from, or train over, the checkpoints there."""
    work = _copy_run(seg_two_iters, tmp_path / "w")
    (work / "lzu_run.json").unlink()
    result = _seg_train(work, seg_saliency_root, 4, resume, opts=["optim_wrapper.optimizer.lr=0.1"])
    line = _error_line(result)
    assert "optim_wrapper.optimizer.lr: 0.02 -> 0.1" in line and "--work-dir" in line, line
    assert not (work / "iter_4.pth").exists()


def _another_saliency(tmp_path):
    return write_saliency(tmp_path / "other.pkl", torch.rand(1, 1, 32, 32) + 0.1)


@pytest.mark.parametrize("how", ["--resume PATH", "resume=True load_from=PATH"])
@pytest.mark.parametrize("change, key", [
    ("uniform", "model."),
    ("saliency", "saliency_sha256"),
    ("lr", "optim_wrapper.optimizer.lr: 0.02 -> 0.1"),
])
def test_resume_from_another_runs_checkpoint_is_refused(seg_saliency_root, seg_two_iters,
                                                        tmp_path, how, change, key):
    """A checkpoint named by path is checked against what it says it was trained with: the
    LZU run's checkpoint into the uniform config (same weights, so mmengine would load it),
    with another saliency, or with another learning rate, is refused in one line."""
    ckpt = str(seg_two_iters / "iter_2.pth")
    named = ["--resume", ckpt] if how == "--resume PATH" else []
    opts = [] if named else ["resume=True", f"load_from={ckpt}"]
    work = tmp_path / "w"
    if change == "uniform":
        result = run_tool(["tools/train.py", SEG_UNIFORM, "--work-dir", str(work), "--data-root",
                           seg_saliency_root, *named, "--cfg-options", "train_cfg.max_iters=3",
                           *NO_VAL, "train_dataloader.batch_size=2", *opts])
    else:
        if change == "saliency":
            opts.append(f"model.grid_generator.saliency_file={_another_saliency(tmp_path)}")
        else:
            opts.append("optim_wrapper.optimizer.lr=0.1")
        result = _seg_train(work, seg_saliency_root, 3, named, opts=opts)
    line = _error_line(result)
    assert f"cannot resume from '{ckpt}'" in line and key in line, line
    assert f"load_from={ckpt} (without --resume)" in line, line
    assert not (work / "iter_3.pth").exists()


def test_resume_from_a_checkpoint_elsewhere_may_extend_its_run(seg_saliency_root, seg_two_iters,
                                                               tmp_path):
    """The same run named by path, with more iterations and other workers, resumes."""
    ckpt = str(seg_two_iters / "iter_2.pth")
    work = tmp_path / "w"
    result = _seg_train(work, seg_saliency_root, 3, ["--resume", ckpt],
                        opts=["train_dataloader.num_workers=0",
                              "train_dataloader.persistent_workers=False"])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert f"resuming from {ckpt}" in result.stderr
    assert (work / "iter_3.pth").is_file()


def test_a_checkpoint_saved_without_a_fingerprint_is_checked_by_its_config_or_refused(
        seg_saliency_root, seg_two_iters, tmp_path):
    """A checkpoint of an older version (no fingerprint in its meta) is checked against the
    config text mmengine stored in it; one without that either is refused unless the user
    passes --resume-unchecked."""
    ckpt = tmp_path / "iter_2.pth"
    shutil.copy(seg_two_iters / "iter_2.pth", ckpt)
    _strip_meta(ckpt, "lzu_fingerprint")
    other_lr = _seg_train(tmp_path / "a", seg_saliency_root, 3, ["--resume", str(ckpt)],
                          opts=["optim_wrapper.optimizer.lr=0.1"])
    assert "optim_wrapper.optimizer.lr: 0.02 -> 0.1" in _error_line(other_lr)
    _strip_meta(ckpt, "cfg")
    unknown = _seg_train(tmp_path / "b", seg_saliency_root, 3, ["--resume", str(ckpt)])
    line = _error_line(unknown)
    assert f"checkpoint '{ckpt}' does not record the settings" in line
    assert "--resume-unchecked" in line and f"load_from={ckpt}" in line, line
    trusted = _seg_train(tmp_path / "b", seg_saliency_root, 3,
                         ["--resume", str(ckpt), "--resume-unchecked"])
    assert trusted.returncode == 0, (trusted.stdout + trusted.stderr)[-3000:]
    assert "warning: --resume-unchecked" in trusted.stderr


# A training process that SIGKILLs itself the moment a given checkpoint is complete on disk
# (after the atomic rename, before mmengine's last_checkpoint marker is written).
KILL_AFTER_CHECKPOINT = """import os, signal
_replace = os.replace


def _replace_then_die(src, dst, *args, **kwargs):
    _replace(src, dst, *args, **kwargs)
    if os.path.basename(os.fspath(dst)) == os.environ["LZU_TEST_KILL_AFTER"]:
        os.kill(os.getpid(), signal.SIGKILL)


os.replace = _replace_then_die
"""


def test_sigkill_after_a_checkpoint_then_resume_equals_an_uninterrupted_run(
        seg_saliency_root, seg_four_iters, tmp_path):
    """The fast path of the SIGKILL test below: the seg demo run is killed (SIGKILL, no clean-up)
    right after iter_2.pth; --resume continues from it and ends bit for bit where an
    uninterrupted run ends."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(KILL_AFTER_CHECKPOINT)
    killed = tmp_path / "killed"
    log_every_iter = ["default_hooks.logger.interval=1"]
    env = {"PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "LZU_TEST_KILL_AFTER": "iter_2.pth"}
    dead = _seg_train(killed, seg_saliency_root, 4, opts=log_every_iter, env=env)
    assert dead.returncode == -signal.SIGKILL, (dead.stdout + dead.stderr)[-3000:]
    assert (killed / "iter_2.pth").is_file() and not (killed / "iter_4.pth").exists()
    resumed = _seg_train(killed, seg_saliency_root, 4, ["--resume"], opts=log_every_iter)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert re.search(r"resuming from (\S+)", log).group(1) == str(killed / "iter_2.pth")
    assert "Iter(train) [3/4]" in log and "Iter(train) [2/4]" not in log
    straight, after_kill = _weights(seg_four_iters / "iter_4.pth"), _weights(killed / "iter_4.pth")
    assert straight.keys() == after_kill.keys()
    for key, value in straight.items():
        assert torch.equal(after_kill[key], value), f"the resumed run differs at {key}"


# ------------------------------------------------------------ mono-3D runs: resume after SIGKILL, two evaluations


def _train_cmd(work, root, saliency, iters, extra=()):
    return ["tools/train.py", LZU, "--work-dir", str(work), "--data-root", root, *extra,
            "--cfg-options", f"train_cfg.max_iters={iters}", "train_cfg.val_interval=1000",
            *NO_VAL, f"model.grid_generator.saliency_file={saliency}",
            "train_dataloader.batch_size=2", "default_hooks.checkpoint.interval=2",
            "default_hooks.checkpoint.max_keep_ckpts=-1", "randomness.deterministic=True",
            "param_scheduler.0.end=3", *QUIET_TRAIN]


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(synthetic_root, tmp_path):
    saliency = write_saliency(tmp_path / "s.pkl", torch.rand(1, 1, 27, 48) + 0.1)
    iters = 8
    straight = tmp_path / "straight"
    done = run_tool(_train_cmd(straight, synthetic_root, saliency, iters))
    assert done.returncode == 0, done.stderr[-3000:]

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, *_train_cmd(killed, synthetic_root, saliency, iters)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (killed / "iter_4.pth").exists():  # however long the machine takes
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / f"iter_{iters}.pth").exists(), "killed too late: nothing to resume"
    resumed = run_tool(_train_cmd(killed, synthetic_root, saliency, iters, ["--resume"]))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    # the newest complete checkpoint (not mmengine's last_checkpoint marker, which lags)
    last = re.search(r"resuming from (\S+)", log).group(1)
    assert f"Load checkpoint from {last}" in log
    done_iter = int(osp.basename(last)[5:-4])
    assert done_iter >= 4
    assert f"Iter(train) [{done_iter + 1}/{iters}]" in log
    assert f"Iter(train) [{done_iter}/{iters}]" not in log

    a = torch.load(straight / f"iter_{iters}.pth", map_location="cpu")
    b = torch.load(killed / f"iter_{iters}.pth", map_location="cpu")
    assert a["meta"]["iter"] == b["meta"]["iter"] == iters
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, atol=1e-5, rtol=1e-4, msg=key)
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for key in sa:
        torch.testing.assert_close(sb[key]["momentum_buffer"], sa[key]["momentum_buffer"],
                                   atol=1e-5, rtol=1e-4)
    assert a["param_schedulers"] == b["param_schedulers"]


def _evaluate_twice(checkpoint, saliency, root, tmp_path, options=()):
    """Evaluate ``checkpoint`` twice with the test tool (score threshold 0): the two metrics
    files and the two raw prediction files (results_nusc.json) it wrote."""
    summaries, predictions = [], []
    for i in range(2):
        out = tmp_path / f"m{i}.json"
        result = run_tool(["tools/test.py", LZU, str(checkpoint), "--work-dir",
                           str(tmp_path / f"t{i}"), "--data-root", root, "--out",
                           str(out), "--cfg-options",
                           f"model.grid_generator.saliency_file={saliency}",
                           "model.test_cfg.score_thr=0.0", *options, *QUIET])
        assert result.returncode == 0, result.stderr[-3000:]
        summaries.append(json.loads(out.read_text()))
        (results,) = (tmp_path / f"t{i}").rglob("results_nusc.json")
        predictions.append(json.loads(results.read_text())["results"])
    boxes = [box for sample in predictions[0].values() for box in sample]
    assert len(boxes) > 0, "no predictions: there is nothing to compare"
    return summaries, predictions


def test_two_evaluations_of_one_checkpoint_give_identical_predictions(synthetic_root, tmp_path):
    """The fast path of the determinism test below: an untrained checkpoint, two evaluations,
    the same raw predictions (every box, score and attribute) and metrics."""
    from mono3d_fixtures import build_model

    saliency = write_saliency(tmp_path / "s.pkl", torch.rand(1, 1, 27, 48) + 0.1)
    grid = dict(load_config(LZU_PATH).model.grid_generator, saliency_file=saliency)
    model, _ = build_model(LZU_PATH, grid_generator=grid)
    checkpoint = tmp_path / "untrained.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, checkpoint)
    few = ["model.test_cfg.nms_pre=20", "model.test_cfg.max_per_img=5"]  # fast: few boxes
    summaries, predictions = _evaluate_twice(checkpoint, saliency, synthetic_root, tmp_path, few)
    assert predictions[0] == predictions[1]
    assert summaries[0]["metrics"] == summaries[1]["metrics"]


@pytest.mark.slow
def test_two_evaluations_of_one_checkpoint_give_identical_nds(synthetic_root, tmp_path):
    """Two evaluations of a trained checkpoint: the same metrics and the same raw predictions
    (after 2 iterations every score may be 0, so equal metrics alone would prove nothing)."""
    saliency = write_saliency(tmp_path / "s.pkl", torch.rand(1, 1, 27, 48) + 0.1)
    work = tmp_path / "w"
    trained = run_tool(_train_cmd(work, synthetic_root, saliency, 2))
    assert trained.returncode == 0, trained.stderr[-3000:]
    summaries, predictions = _evaluate_twice(work / "iter_2.pth", saliency, synthetic_root,
                                             tmp_path)
    assert summaries[0]["metrics"] == summaries[1]["metrics"]
    assert predictions[0] == predictions[1]
