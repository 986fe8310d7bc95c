"""No load the project triggers runs code from a file, and wrong pretrained files are refused.

Weights: pretrained backbone init from a URL scheme (``torchvision://``, cached under
``$TORCH_HOME``), from a local path, ``load_from``, ``--resume`` and ``tools/test.py``'s
checkpoint. Data: info files and saliency files, through every reader and every tool.
"""

import os
import os.path as osp
import pickle
import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import ROOT, MarkerExploit, run_tool
from helpers import BASELINE, LZU, NO_VAL, QUIET, QUIET_TRAIN, _Custom, assert_clean_error

import lzu.openmmlab  # noqa: F401  (installs the safe loaders and the pickle handler)
from lzu.apis.runtime import load_config
from lzu.infra.checkpoint import CheckpointError
from lzu.infra.safe_pickle import UnsafePickleError, load_data_pickle

VIS = LZU
PAPER_SALIENCY = f"model.grid_generator.saliency_file={ROOT}/saliency.pkl"


def build_resnet(depth=50, **kwargs):
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope

    init_default_scope("mmdet3d")
    return MODELS.build(dict(type="mmdet.ResNet", depth=depth, **kwargs))


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    """A private ``$TORCH_HOME``; returns the file ``torchvision://resnet50`` resolves to."""
    from mmengine.runner.checkpoint import get_torchvision_models

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    url = get_torchvision_models()["resnet50"]
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    return cache / osp.basename(url)


def test_planted_pretrained_file_runs_no_code(torch_home, tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"x": MarkerExploit(str(marker))}, torch_home)
    model = build_resnet(init_cfg=dict(type="Pretrained", checkpoint="torchvision://resnet50"))
    with pytest.raises(CheckpointError, match="refused by the safe loader"):
        model.init_weights()
    assert not marker.exists()


def test_pretrained_file_that_does_not_fit_is_refused(torch_home):
    torch.save(build_resnet(depth=18).state_dict(), torch_home)  # ResNet-18 weights as ResNet-50
    model = build_resnet(init_cfg=dict(type="Pretrained", checkpoint="torchvision://resnet50"))
    with pytest.raises(CheckpointError, match=r"do not fit ResNet: .* missing .*another shape"):
        model.init_weights()
    with pytest.raises(CheckpointError, match=str(torch_home.parent)):
        model.init_weights()


def test_fitting_pretrained_file_loads_into_a_dcn_backbone(torch_home):
    """ImageNet files have a classifier and no DCN offsets: both are fine."""
    source = build_resnet()
    state = dict(source.state_dict(), **{"fc.weight": torch.zeros(1000, 2048)})
    torch.save(state, torch_home)
    model = build_resnet(
        dcn=dict(type="DCNv2", deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, False, True, True),
        init_cfg=dict(type="Pretrained", checkpoint="torchvision://resnet50"),
    )
    model.init_weights()
    assert torch.equal(model.layer3[0].conv2.weight, source.layer3[0].conv2.weight)


def test_local_pretrained_path_is_safe_too(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "backbone.pth"
    torch.save({"state_dict": {"x": MarkerExploit(str(marker))}}, evil)
    model = build_resnet(init_cfg=dict(type="Pretrained", checkpoint=str(evil)))
    with pytest.raises(CheckpointError, match="backbone.pth"):
        model.init_weights()
    assert not marker.exists()


def test_weights_only_even_if_torch_default_is_turned_off(tmp_path, monkeypatch):
    from mmengine.runner.checkpoint import _load_checkpoint

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"x": MarkerExploit(str(marker))}, evil)
    with pytest.raises(CheckpointError):
        _load_checkpoint(str(evil))
    assert not marker.exists()


@pytest.mark.parametrize("how", ["load_from", "resume"])
def test_train_tool_refuses_crafted_checkpoints(how, synthetic_root, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"x": MarkerExploit(str(marker))}}, evil)
    load = [f"load_from={evil}"] if how == "load_from" else []
    resume = ["--resume", str(evil)] if how == "resume" else []
    extra = [*resume, "--cfg-options", *load, *QUIET_TRAIN, *NO_VAL, "train_cfg.max_iters=1"]
    result = run_tool(["tools/train.py", BASELINE, "--data-root", synthetic_root,
                       "--work-dir", str(tmp_path / "w"), *extra])
    assert_clean_error(result, "refused by the safe loader", "evil.pth")
    assert not marker.exists()


# ------------------------------------------------------------ tools/test.py's checkpoint


def test_crafted_checkpoint_is_refused_and_runs_nothing(synthetic_root, tmp_path):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"x": MarkerExploit(str(marker))}}, ckpt)
    result = run_tool(["tools/test.py", BASELINE, str(ckpt), "--data-root", synthetic_root,
                       "--work-dir", str(tmp_path / "w"), "--cfg-options", *QUIET])
    assert_clean_error(result, "refused by the safe loader", "open")
    assert not marker.exists()


def test_weights_only_protection_is_not_disabled_globally():
    """The only unrestricted load is the explicit per-file opt-in of tools/test.py."""
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    hits = []
    for path in ("lzu", "tools", "run.sh", "mmdetection3d", "configs"):
        out = subprocess.run(["grep", "-rn", "--include=*.py", "--include=*.sh",
                              "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD\\|weights_only=False",
                              osp.join(ROOT, path)], capture_output=True, text=True).stdout
        hits += [line for line in out.splitlines() if line]
    assert len(hits) == 1 and "lzu/apis/entrypoints.py" in hits[0], hits
    source = open(osp.join(ROOT, "lzu", "apis", "entrypoints.py")).read()
    unsafe = source[source.index("def load_weights"):source.index("def summarize_nuscenes")]
    assert "if trust:" in unsafe and "weights_only=False" in unsafe


@pytest.mark.slow
def test_checkpoint_needing_another_global_needs_the_explicit_opt_in(synthetic_root, tmp_path):
    from mono3d_fixtures import build_model

    model, _ = build_model(osp.join(ROOT, BASELINE))
    ckpt = tmp_path / "legacy.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"custom": _Custom()}}, ckpt)
    args = ["tools/test.py", BASELINE, str(ckpt), "--data-root", synthetic_root, "--work-dir",
            str(tmp_path / "w"), "--out", str(tmp_path / "m.json")]
    refused = run_tool([*args, "--cfg-options", *QUIET], env={"PYTHONPATH": osp.join(ROOT, "tests")})
    assert_clean_error(refused, "refused by the safe loader", "_Custom", "--unsafe-trust-checkpoint")
    trusted = run_tool([*args, "--unsafe-trust-checkpoint", "--cfg-options", *QUIET],
                       env={"PYTHONPATH": osp.join(ROOT, "tests")})
    assert trusted.returncode == 0, trusted.stderr[-3000:]
    assert "can run arbitrary code" in trusted.stderr
    assert (tmp_path / "m.json").is_file()


# ------------------------------------------------------------ info files: plain data only


def plant(path, marker, protocol=2):
    """Overwrite ``path`` with a v2-looking info file that creates ``marker`` when unpickled."""
    data = {"metainfo": {"version": "v1.0-mini"},
            "data_list": [{"token": "t", "images": {}, "x": MarkerExploit(str(marker))}]}
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)
    return str(path)


def info_like():
    """What mmdet3d's v2 infos hold: nested dicts and lists, numpy arrays, dtypes, scalars."""
    return {"metainfo": {"categories": {"car": 0}, "version": "v1.0-mini"},
            "data_list": [{"token": "abc", "timestamp": 1.5e9, "ego2global": [[1.0, 0.0]],
                           "images": {"CAM_FRONT": {"img_path": "a.jpg", "cam2img": np.eye(3),
                                                    "width": 1600, "height": 900}},
                           "lidar_points": {"num_pts_feats": np.int64(5),
                                            "scale": np.float32(0.5)},
                           "gt": np.arange(6, dtype=np.float32).reshape(2, 3),
                           "names": np.array(["car", "truck"]), "flags": np.array([True, False]),
                           "kind": np.dtype("float64"), "tags": {1, 2}, "raw": b"\x00\x01",
                           "pair": (1, "a"), "none": None}]}


def assert_equal_data(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_equal_data(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_equal_data(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_data_round_trips_through_every_info_reader(tmp_path, protocol):
    import mmengine

    from lzu.data.infos import load_infos

    path = tmp_path / "infos.pkl"
    with open(path, "wb") as f:
        pickle.dump(info_like(), f, protocol=protocol)
    assert_equal_data(load_data_pickle(str(path)), info_like())
    assert_equal_data(mmengine.load(str(path)), info_like())
    with open(path, "rb") as f:
        assert_equal_data(mmengine.load(f, file_format="pkl"), info_like())
    assert_equal_data(load_infos(str(path)), info_like()["data_list"])


def test_planted_info_file_runs_no_code_on_any_loader(tmp_path):
    """load_infos, mmengine.load (path and file object) and a dataset built from the file."""
    import mmengine
    from mmdet3d.registry import DATASETS
    from mmengine.registry import init_default_scope

    from lzu.data.infos import InfoFileError, load_infos

    marker = tmp_path / "pwned"
    evil = plant(tmp_path / "nuscenes_infos_train.pkl", marker)
    named = rf"{evil}: refusing to unpickle global 'io.open'"
    with pytest.raises(InfoFileError, match=named):
        load_infos(evil)
    with pytest.raises(UnsafePickleError, match=named):
        mmengine.load(evil)
    with pytest.raises(UnsafePickleError, match=named), open(evil, "rb") as f:
        mmengine.load(f, file_format="pkl")
    init_default_scope("mmdet3d")
    cfg = load_config(osp.join(ROOT, BASELINE), data_root=str(tmp_path))
    with pytest.raises(UnsafePickleError, match=named):
        DATASETS.build(cfg.train_dataloader.dataset)
    assert not marker.exists()


def test_a_payload_of_any_global_is_refused(tmp_path):
    """Not a denylist: os.system, eval, a numpy loader and a torch global are all refused."""

    class Payload:
        def __init__(self, fn, args):
            self.fn, self.args = fn, args

        def __reduce__(self):
            return (self.fn, self.args)

    marker = tmp_path / "pwned"
    for fn, args in ((os.system, (f"touch {marker}",)), (eval, (f"open('{marker}', 'w')",)),
                     (np.load, (str(marker),)), (torch.load, (str(marker),))):
        path = tmp_path / "x.pkl"
        with open(path, "wb") as f:
            pickle.dump({"data_list": [Payload(fn, args)], "metainfo": {}}, f)
        with pytest.raises(UnsafePickleError, match=f"{fn.__name__}'"):
            load_data_pickle(str(path))
    assert not marker.exists()


@pytest.fixture()
def planted_root(synthetic_root, tmp_path):
    """A copy of the synthetic nuScenes set whose train and val infos are planted."""
    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root)
    marker = tmp_path / "pwned"
    for split in ("train", "val"):
        plant(root / f"nuscenes_infos_{split}.pkl", marker)
    return root, marker


def planted_commands(root, tmp_path):
    out = str(tmp_path / "out")
    return {
        "make_saliency": ["tools/make_saliency.py", "--infos",
                          str(root / "nuscenes_infos_train.pkl"), "--out", out + ".pkl"],
        "train": ["tools/train.py", BASELINE, "--data-root", str(root), "--work-dir", out],
        "test": ["tools/test.py", BASELINE, str(tmp_path / "missing.pth"), "--data-root",
                 str(root), "--work-dir", out],
        "visualize_zoom": ["tools/visualize_zoom.py", VIS, "--data-root", str(root), "--out",
                           out + ".png", "--cfg-options", PAPER_SALIENCY],
    }


@pytest.mark.parametrize("tool", ["make_saliency", "train", "test", "visualize_zoom"])
def test_planted_info_file_through_the_tools(planted_root, tmp_path, tool):
    root, marker = planted_root
    result = run_tool(planted_commands(root, tmp_path)[tool])
    assert_clean_error(result, f"{root}/nuscenes_infos_", "refusing to unpickle global")
    assert not marker.exists()
    assert not osp.exists(tmp_path / "out") and not osp.exists(tmp_path / "out.pkl")


def test_planted_info_file_through_run_sh(planted_root, tmp_path):
    """``sh run.sh <experiment>`` execs tools/run_experiment.py (run here directly, so that the
    test never runs the installer)."""
    root, marker = planted_root
    result = run_tool(["tools/run_experiment.py", "lzu_fcos3d_0.75", "--work-dir",
                       str(tmp_path / "wd")], env={"DATA_ROOT": str(root), "GPUS": "0"})
    assert_clean_error(result, f"{root}/nuscenes_infos_", "refusing to unpickle global")
    assert not marker.exists() and not (tmp_path / "wd").exists()


@pytest.mark.slow
def test_planted_info_file_through_the_demo(tmp_path):
    """The 3-D demo reads the infos of its work dir: a planted one stops it, naming the file."""
    wd = tmp_path / "demo"
    args = ["tools/demo.py", "--work-dir", str(wd), "--scenes", "1", "1", "--samples", "2",
            "--iters", "1", "--bench-iters", "1"]
    first = run_tool(args)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    marker = tmp_path / "pwned"
    plant(wd / "data" / "nuscenes_infos_train.pkl", marker)
    os.remove(wd / "saliency.pkl")
    result = run_tool(args)
    assert_clean_error(result, "nuscenes_infos_train.pkl", "refusing to unpickle global")
    assert not marker.exists()


# ------------------------------------------------------------ refusals are one line


def test_safe_loader_refusals_are_one_line_in_every_tool(synthetic_root, tmp_path):
    """A refused saliency (visualize_zoom, benchmark, train) and a refused checkpoint (test)."""
    marker = tmp_path / "pwned"
    saliency = tmp_path / "evil_saliency.pkl"
    with open(saliency, "wb") as f:
        pickle.dump(MarkerExploit(str(marker)), f)
    option = f"model.grid_generator.saliency_file={saliency}"
    commands = [
        ["tools/visualize_zoom.py", VIS, "--data-root", synthetic_root, "--out",
         str(tmp_path / "z.png"), "--cfg-options", option],
        ["tools/benchmark.py", VIS, "--data-root", synthetic_root, "--iters", "1", "--warmup",
         "0", "--out-dir", str(tmp_path / "bench"), "--saliency", str(saliency)],
        ["tools/train.py", VIS, "--data-root", synthetic_root, "--work-dir", str(tmp_path / "wd"),
         "--cfg-options", option],
    ]
    for args in commands:
        assert_clean_error(run_tool(args), "evil_saliency.pkl", "refusing to unpickle global")
    ckpt = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": MarkerExploit(str(marker))}}, ckpt)
    result = run_tool(["tools/test.py", BASELINE, str(ckpt), "--data-root", synthetic_root,
                       "--work-dir", str(tmp_path / "wd2")])
    assert_clean_error(result, "evil.pth", "refused by the safe loader")
    assert not marker.exists()
