"""No weight load the project triggers runs code from a file, and wrong pretrained files are refused.

Paths covered: pretrained backbone init from a URL scheme (``torchvision://``,
cached under ``$TORCH_HOME``), from a local path, ``load_from``, ``--resume`` and
``tools/test.py``'s checkpoint (the last in ``test_reliability.py``).
"""

import os.path as osp

import pytest
import torch
from conftest import MarkerExploit, run_tool
from test_reliability import NO_VAL, QUIET_TRAIN, assert_clean_error

import lzu.openmmlab  # noqa: F401  (installs the safe loaders)
from lzu.infra.checkpoint import CheckpointError

BASELINE = "configs/demo/fcos3d_demo.py"


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
