"""Command-line refusals: run.sh, the tools' options and arguments, each one clear line with no
Python stack trace, before anything runs."""

import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, run_tool
from helpers import BASELINE, LZU, LZU_PATH, QUIET, assert_clean_error, load_tool

import lzu.openmmlab  # noqa: F401  (checkpoint allowlist, safe loaders)
from lzu.apis.runtime import cfg_option, load_config
from lzu.infra.safe_pickle import UnsafePickleError

VIS = LZU
PAPER_SALIENCY = f"model.grid_generator.saliency_file={ROOT}/saliency.pkl"


# ------------------------------------------------------------ run.sh and its experiments


def test_unknown_experiment_lists_the_valid_ones():
    env = dict(os.environ, LZU_PYTHON=sys.executable)
    result = subprocess.run(["sh", "run.sh", "no_such_experiment"], cwd=ROOT, capture_output=True,
                            text=True, env=env)
    assert_clean_error(result, "unknown command or experiment 'no_such_experiment'",
                       "lzu_fcos3d_0.75", "fcos3d_0.25")


@pytest.mark.parametrize("name", ["demo/lzu_fcos3d_demo", "_base_/lzu_fcos3d", "../run"])
def test_base_and_demo_configs_are_not_experiments(name):
    result = subprocess.run(["sh", "run.sh", name], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "unknown command or experiment" in result.stderr


def test_relative_paths_resolve_against_the_callers_directory(tmp_path):
    env = dict(os.environ, LZU_PYTHON=sys.executable, DATA_ROOT="my_data", WORK_DIR="my_work")
    result = subprocess.run(["sh", osp.join(ROOT, "run.sh"), "fcos3d_0.25"], cwd=tmp_path,
                            capture_output=True, text=True, env=env)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and f"{tmp_path}/my_data" in out, out[-2000:]


def test_more_gpus_than_visible(synthetic_root, tmp_path):
    result = run_tool(["tools/run_experiment.py", "fcos3d_0.25", "--work-dir", str(tmp_path)],
                      env={"GPUS": str(torch.cuda.device_count() + 1), "DATA_ROOT": synthetic_root})
    assert_clean_error(result, f"GPUS={torch.cuda.device_count() + 1} but only")


def test_negative_gpus(tmp_path):
    result = run_tool(["tools/run_experiment.py", "fcos3d_0.25", "--work-dir", str(tmp_path)],
                      env={"GPUS": "-1"})
    assert_clean_error(result, "GPUS=-1 is negative")


def test_run_sh_never_replaces_the_users_saliency_option(tmp_path, monkeypatch):
    tool = load_tool("run_experiment")
    mine = tmp_path / "mine.pkl"
    with open(mine, "wb") as f:
        pickle.dump(torch.rand(1, 1, 27, 48), f)
    monkeypatch.delenv("SALIENCY", raising=False)
    extra = ["--cfg-options", f"model.grid_generator.saliency_file={mine}"]
    assert tool.ensure_saliency("configs/lzu_fcos3d_0.25.py", "unused", extra) == []
    default = tool.ensure_saliency("configs/lzu_fcos3d_0.25.py", "unused", [])
    assert default == ["--cfg-options",
                       cfg_option("model.grid_generator.saliency_file",
                                  osp.join(ROOT, "saliency.pkl"))]
    monkeypatch.setenv("SALIENCY", str(tmp_path / "another.pkl"))
    with pytest.raises(SystemExit, match="disagree"):
        tool.ensure_saliency("configs/lzu_fcos3d_0.25.py", "unused", extra)


# ------------------------------------------------------------ config options


@pytest.mark.parametrize("options, message", [
    ({"trian_cfg.max_iters": 2}, "no key 'trian_cfg'; did you mean 'train_cfg'"),
    ({"model.backbone.frozen_stagez": 1}, "did you mean 'frozen_stages'"),
    ({"optim_wrapper.optimizer.lr": "fast"}, "expected float"),
    ({"train_dataloader.batch_size": 2.5}, "expected int"),
    ({"param_scheduler.7.end": 3}, "not an index"),
])
def test_bad_cfg_options_are_refused(options, message):
    from lzu.apis.runtime import OptionError

    with pytest.raises(OptionError, match=message):
        load_config(LZU_PATH, options)


def test_bad_option_through_the_tool_has_no_traceback(synthetic_root, tmp_path):
    result = run_tool(["tools/train.py", LZU_PATH, "--data-root", synthetic_root, "--work-dir",
                       str(tmp_path / "w"), "--cfg-options", "trian_cfg.max_iters=1"])
    assert_clean_error(result, "no key 'trian_cfg'")


def test_checkpoint_of_another_architecture(synthetic_root, tmp_path):
    ckpt = tmp_path / "other.pth"
    torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(1), "foo.bar": torch.zeros(1)},
                "meta": {}}, ckpt)
    result = run_tool(["tools/test.py", BASELINE, str(ckpt), "--data-root", synthetic_root,
                       "--work-dir", str(tmp_path / "w"), "--cfg-options", *QUIET])
    assert_clean_error(result, "does not match the model", "foo.bar", "missing keys")


@pytest.mark.parametrize("launcher, names", [
    ("pytorch", "RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set"),
    ("slurm", "SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST are not set"),
])
def test_launcher_without_its_environment(synthetic_root, tmp_path, launcher, names):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "OMPI_")) and k not in (
               "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    for tool in ("tools/train.py", "tools/test.py"):
        args = [tool, BASELINE] + ([str(tmp_path / "x.pth")] if tool.endswith("test.py") else [])
        result = subprocess.run(
            [sys.executable, *args, "--data-root", synthetic_root, "--work-dir",
             str(tmp_path / "wd"), "--launcher", launcher],
            cwd=ROOT, capture_output=True, text=True, env=env)
        assert_clean_error(result, f"--launcher {launcher}, but {names}")
    assert not (tmp_path / "wd").exists()


# ------------------------------------------------------------ tool arguments


@pytest.mark.parametrize("args, message", [
    (["--grid-shape", "0", "0"], "grid shape 0x0 must be two whole numbers >= 2"),
    (["--grid-shape", "1", "48"], "grid shape 1x48"),
    (["--image-size", "0", "0"], "image size 0x0 must be positive"),
    (["--image-size", "1600", "0"], "image size 1600x0 must be positive"),
    (["--bandwidth", "0"], "bandwidth 0.0 must be a positive number"),
    (["--bandwidth", "-3"], "bandwidth -3.0 must be a positive number"),
    (["--bandwidth", "nan"], "bandwidth nan"),
    (["--amplitude", "-1"], "amplitude -1.0 must be >= 0"),
])
def test_make_saliency_refuses_settings_that_cannot_work(synthetic_root, tmp_path, args, message):
    out = tmp_path / "s.pkl"
    result = run_tool(["tools/make_saliency.py", "--infos",
                       osp.join(synthetic_root, "nuscenes_infos_train.pkl"), "--out", str(out),
                       *args])
    assert_clean_error(result, message)
    assert not out.exists()


def test_make_saliency_refuses_a_zero_grid_for_label_maps(small_cityscapes, tmp_path):
    result = run_tool(["tools/make_saliency.py", "--seg-labels",
                       osp.join(small_cityscapes, "gtFine", "train"), "--grid-shape", "0", "0",
                       "--out", str(tmp_path / "s.pkl")])
    assert_clean_error(result, "grid shape 0x0")


@pytest.mark.parametrize("args, message", [
    (["--camera", "CAM_NOSE"], "--camera CAM_NOSE: frame 0 of"),
    (["--index", "999"], "--index 999:"),
    (["--index", "-1"], "--index -1:"),
    (["--features", "--level", "9"], "--level 9: the model has"),
    (["--features", "--level", "-1"], "--level -1: the model has"),
    (["--cfg-options", "model.grid_generator.output_shape=(400000,400000)"],
     "GiB, more than half of this machine's"),
])
def test_visualize_zoom_refuses_bad_arguments(synthetic_root, tmp_path, args, message):
    result = run_tool(["tools/visualize_zoom.py", VIS, "--data-root", synthetic_root,
                       "--out", str(tmp_path / "z.png"), "--cfg-options", PAPER_SALIENCY, *args])
    assert_clean_error(result, message)
    assert not (tmp_path / "z.png").exists()


def test_visualize_zoom_missing_or_broken_image(tmp_path):
    result = run_tool(["tools/visualize_zoom.py", VIS, "--image", str(tmp_path / "none.jpg"),
                       "--out", str(tmp_path / "z.png"), "--cfg-options", PAPER_SALIENCY])
    assert_clean_error(result, f"image '{tmp_path / 'none.jpg'}' not found")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    result = run_tool(["tools/visualize_zoom.py", VIS, "--image", str(tmp_path / "bad.jpg"),
                       "--out", str(tmp_path / "z.png"), "--cfg-options", PAPER_SALIENCY])
    assert_clean_error(result, "bad.jpg' cannot be read")


# ------------------------------------------------------------ one line, bugs stay loud


def test_run_main_prints_one_line_and_keeps_bugs_loud():
    from lzu.infra.cli import run_main

    def refused(argv):
        raise UnsafePickleError("x.pkl: refusing to unpickle global 'os.system'")

    with pytest.raises(SystemExit) as exit_info:
        run_main(refused, "tool")
    assert exit_info.value.code == "tool: error: x.pkl: refusing to unpickle global 'os.system'"

    def bug(argv):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_main(bug, "tool")


def test_every_tool_runs_its_main_through_run_main():
    tools = sorted(f for f in os.listdir(osp.join(ROOT, "tools"))
                   if f.endswith(".py") and not f.startswith("_"))
    assert len(tools) >= 15
    for name in tools:
        source = open(osp.join(ROOT, "tools", name), encoding="utf-8").read()
        main_block = source.split('if __name__ == "__main__":', 1)[-1]
        assert "run_main(" in main_block, f"tools/{name} does not run its main through run_main"

