"""Reliability, round two: the classes an adversarial probe broke, each with a failing case.

Results are never lost or mixed; half-written state recovers by itself; outputs
are readable like any file; bad data and bad options get one clear error.
"""

import importlib.util
import json
import os
import os.path as osp
import pickle
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, run_tool
from PIL import Image
from test_reliability import assert_clean_error

import lzu.openmmlab  # noqa: F401
from lzu.apis.runtime import load_config
from lzu.infra.errors import UserInputError

LZU_DEMO = osp.join(ROOT, "configs", "demo", "lzu_fcos3d_demo.py")
K = [[1266.4, 0.0, 816.3], [0.0, 1266.4, 491.5], [0.0, 0.0, 1.0]]


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", osp.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------- results never lost or mixed


def test_second_training_in_a_work_dir_is_refused_naming_the_holder(tmp_path):
    from lzu.infra.workdir import acquire_lock

    code = (f"import sys, time; sys.path.insert(0, {ROOT!r}); from lzu.infra.workdir import acquire_lock; "
            f"acquire_lock({str(tmp_path)!r}); print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserInputError, match=rf"in use by another run \(PID {holder.pid},"):
            acquire_lock(str(tmp_path))
    finally:
        holder.kill()
        holder.wait()
    acquire_lock(str(tmp_path))  # the kernel released the dead holder's lock


def test_differently_configured_run_cannot_resume_or_overwrite(tmp_path):
    from lzu.apis.fingerprint import run_fingerprint
    from lzu.infra.workdir import check_run_fingerprint

    cfg = load_config(LZU_DEMO)
    check_run_fingerprint(str(tmp_path), run_fingerprint(cfg))
    (tmp_path / "iter_100.pth").write_bytes(b"x")
    longer = load_config(LZU_DEMO, {"train_cfg.max_iters": 600})
    check_run_fingerprint(str(tmp_path), run_fingerprint(longer))  # extending is resuming
    other = load_config(LZU_DEMO, {"model.grid_generator.output_shape": (450, 800)})
    with pytest.raises(UserInputError, match=r"output_shape.*\[225, 400\] -> \[450, 800\]"):
        check_run_fingerprint(str(tmp_path), run_fingerprint(other))
    saliency = tmp_path / "other.pkl"
    with open(saliency, "wb") as f:
        pickle.dump(torch.rand(1, 1, 27, 48), f)
    moved = load_config(LZU_DEMO, {"model.grid_generator.saliency_file": str(saliency)})
    with pytest.raises(UserInputError, match="saliency"):
        check_run_fingerprint(str(tmp_path), run_fingerprint(moved))


def test_evaluations_record_provenance_and_never_overwrite_each_other(tmp_path):
    from lzu.apis.entrypoints import evaluation_provenance, metrics_destination

    ckpt = tmp_path / "epoch_1.pth"
    torch.save({"state_dict": {}}, ckpt)
    a = evaluation_provenance(load_config(LZU_DEMO), str(ckpt), None)
    b = evaluation_provenance(load_config(LZU_DEMO, {"model.unzoom_border": "paper"}), str(ckpt),
                              {"model.unzoom_border": "paper"})
    assert a["evaluation_id"] != b["evaluation_id"] and len(a["checkpoint_sha256"]) == 64
    assert b["cfg_options"] == {"model.unzoom_border": "paper"}
    first, _ = metrics_destination(None, str(tmp_path), str(ckpt), a)
    assert first == str(tmp_path / "metrics_epoch_1.json")
    with open(first, "w") as f:
        json.dump({"evaluation_id": a["evaluation_id"]}, f)
    assert metrics_destination(None, str(tmp_path), str(ckpt), a)[0] == first  # same: overwrite
    second, tag = metrics_destination(None, str(tmp_path), str(ckpt), b)
    assert second != first and b["evaluation_id"] in second and b["evaluation_id"] in tag
    with pytest.raises(UserInputError, match="holds the metrics of another evaluation"):
        metrics_destination(first, str(tmp_path), str(ckpt), b)


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
                       f"model.grid_generator.saliency_file={osp.join(ROOT, 'saliency.pkl')}"]
    monkeypatch.setenv("SALIENCY", str(tmp_path / "another.pkl"))
    with pytest.raises(SystemExit, match="disagree"):
        tool.ensure_saliency("configs/lzu_fcos3d_0.25.py", "unused", extra)


def test_demo_rerun_with_other_options_does_not_reuse(tmp_path):
    demo = load_tool("demo")
    wd = str(tmp_path / "demo")
    demo.check_options(wd, demo.parse_args(["--seed", "0"]))
    demo.check_options(wd, demo.parse_args(["--seed", "0"]))
    with pytest.raises(SystemExit, match=r"seed 0 -> 1.*--fresh"):
        demo.check_options(wd, demo.parse_args(["--seed", "1"]))
    with pytest.raises(SystemExit, match="scenes"):
        demo.check_options(wd, demo.parse_args(["--scenes", "3", "1"]))


# ------------------------------------------------ half-written state recovers


def test_interrupted_data_preparation_leaves_no_v1_files(synthetic_root, tmp_path, monkeypatch):
    from lzu.data import data_prep

    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root)
    for f in root.glob("nuscenes_infos_*.pkl"):
        f.unlink()
    real = data_prep.load_mim_module

    def interrupted(relpath, name):
        module = real(relpath, name)
        if "update_infos" in relpath:
            def stop(*_, **__):
                raise KeyboardInterrupt
            module.update_pkl_infos = stop
        return module

    monkeypatch.setattr(data_prep, "load_mim_module", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data_prep.create_mono3d_infos(str(root), version="v1.0-mini", max_sweeps=0)
    assert sorted(p.name for p in root.glob("*.pkl")) == []
    monkeypatch.setattr(data_prep, "load_mim_module", real)
    paths = data_prep.create_mono3d_infos(str(root), version="v1.0-mini", max_sweeps=0)
    from lzu.data.infos import load_infos

    assert all(load_infos(p) for p in paths) and len(paths) == 2


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


def test_truncated_devkit_output_is_reported(tmp_path):
    from lzu.openmmlab.metric import EvaluationOutputError, check_complete_json

    path = tmp_path / "metrics_details.json"
    path.write_text('{"car": {"label_aps": {"0.5": 0.1')
    with pytest.raises(EvaluationOutputError, match="metrics_details.json' is truncated"):
        check_complete_json(str(path))


# ------------------------------------------------ outputs readable like any file


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mode):
    from lzu.infra.atomic_io import atomic_write_json

    old = os.umask(umask)
    try:
        atomic_write_json(str(tmp_path / "m.json"), {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode) == mode


# ------------------------------------------------ bad data: one clear error


def load_image(path, cam2img=K):
    from mmdet3d.registry import TRANSFORMS

    loader = TRANSFORMS.build(dict(type="LoadImageFromFileMono3D"))
    return loader({"images": {"CAM_FRONT": {"img_path": str(path), "cam2img": cam2img}}})


@pytest.fixture()
def good_jpeg(tmp_path):
    path = tmp_path / "img.jpg"
    Image.fromarray(np.full((900, 1600, 3), 90, np.uint8)).save(path, quality=80)
    return path


def test_good_image_loads(good_jpeg):
    assert load_image(good_jpeg)["img"].shape == (900, 1600, 3)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "truncated JPEG"),
    (lambda b: b"", "is empty"),
    (lambda b: b"this is not an image at all" * 10, "cannot decode image"),
])
def test_bad_image_files_are_named(good_jpeg, damage, message):
    from lzu.openmmlab.loading import ImageError

    good_jpeg.write_bytes(damage(good_jpeg.read_bytes()))
    with pytest.raises(ImageError, match=message) as err:
        load_image(good_jpeg)
    assert str(good_jpeg) in str(err.value)


def test_image_of_another_size_than_its_intrinsics_is_refused(tmp_path):
    from lzu.openmmlab.loading import ImageError

    path = tmp_path / "half.jpg"
    Image.fromarray(np.zeros((450, 800, 3), np.uint8)).save(path)
    with pytest.raises(ImageError, match="does not have the size its info describes"):
        load_image(path)


@pytest.mark.parametrize("cam2img, message", [
    (None, "no cam2img"),
    ([[1.0, 0.0], [0.0, 1.0]], "must be 3x3"),
    ([[float("nan"), 0, 800], [0, 1266, 450], [0, 0, 1]], "NaN"),
    ([[0.0, 0, 800], [0, 0, 450], [0, 0, 1]], "singular"),
])
def test_bad_intrinsics_are_named(cam2img, message):
    from lzu.openmmlab.loading import ImageError, check_cam2img

    with pytest.raises(ImageError, match=message):
        check_cam2img(cam2img, "sample abc, CAM_FRONT")


def test_bad_intrinsics_in_the_infos_are_caught_up_front(synthetic_root, tmp_path):
    from lzu.apis.data_check import check_data

    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root)
    path = root / "nuscenes_infos_val.pkl"
    with open(path, "rb") as f:
        infos = pickle.load(f)
    infos["data_list"][1]["images"]["CAM_BACK"]["cam2img"] = [[1.0, 0.0], [0.0, 1.0]]
    with open(path, "wb") as f:
        pickle.dump(infos, f)
    cfg = load_config(LZU_DEMO, data_root=str(root))
    with pytest.raises(UserInputError, match=r"nuscenes_infos_val.pkl', sample .*CAM_BACK.*3x3"):
        check_data(cfg, splits=("val",))


def test_version_mismatch_is_caught_before_training(synthetic_root):
    from lzu.apis.data_check import DataError, check_data

    cfg = load_config(osp.join(ROOT, "configs", "lzu_fcos3d_0.25.py"), data_root=synthetic_root)
    with pytest.raises(DataError, match=r"v1.0-trainval.*found: v1.0-mini"):
        check_data(cfg)


def test_unwritable_work_dir_is_named(tmp_path):
    from lzu.infra.workdir import acquire_lock

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(UserInputError, match="cannot create work dir"):
        acquire_lock(str(blocker / "work"))


# ------------------------------------------------ bad options: one clear error


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
        load_config(LZU_DEMO, options)


@pytest.mark.parametrize("shape", [(225.5, 400), (225, 400, 3), (0, 400), (-225, 400), "225x400",
                                   (True, 400)])
def test_output_shape_must_be_two_positive_integers(shape):
    from lzu.core.fixed_grid import FixedGrid, GridShapeError

    with pytest.raises(GridShapeError, match="two whole numbers"):
        FixedGrid(torch.ones(1, 1, 27, 48), output_shape=shape)


def test_bad_option_through_the_tool_has_no_traceback(synthetic_root, tmp_path):
    result = run_tool(["tools/train.py", LZU_DEMO, "--data-root", synthetic_root, "--work-dir",
                       str(tmp_path / "w"), "--cfg-options", "trian_cfg.max_iters=1"])
    assert_clean_error(result, "no key 'trian_cfg'")


def test_negative_gpus(tmp_path):
    result = run_tool(["tools/run_experiment.py", "fcos3d_0.25", "--work-dir", str(tmp_path)],
                      env={"GPUS": "-1"})
    assert_clean_error(result, "GPUS=-1 is negative")


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


# ------------------------------------------------ one environment, several clones


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
