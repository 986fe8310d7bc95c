"""The paper's training step: every parameter's lr and weight decay, and the lr schedule.

The paper trained with mmcv 1.7's ``DefaultOptimizerConstructor``
(``paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.)``, ``norm_decay_mult``
defaulting to 1 and applied before the bias rule) and mmcv 1.x's linear warm-up
(``lr_i = lr (1/3 + 2/3 i / 500)`` for ``i < 500``), steps at epochs 8 and 11.
These tests check the eight paper configs against that, parameter by parameter,
from a table written from the paper's rules (not from mmengine's code).
"""

import os.path as osp
import types

import pytest
import torch
from mmcv.cnn import Scale
from mmcv.ops import ModulatedDeformConv2d
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS
from mmengine.runner import Runner
from torch import nn

import lzu.openmmlab  # noqa: F401  (registers the models)
from lzu.apis.runtime import load_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAPER_CONFIGS = [f"{p}fcos3d_{s}" for p in ("", "lzu_") for s in ("0.25", "0.50", "0.75", "1.00")]
BASE_LR, BASE_WD = 0.001, 1e-4

# (lr multiplier, decay multiplier) of each parameter kind in the paper's optimizer
PAPER_MULTIPLIERS = {
    "conv.weight": (1.0, 1.0),
    "conv.bias": (2.0, 0.0),
    "dcn.weight": (1.0, 1.0),
    "dcn.bias": (2.0, 0.0),
    "dcn_offset.weight": (1.0, 1.0),
    "dcn_offset.bias": (1.0, 1.0),
    "gn.weight": (1.0, 1.0),
    "gn.bias": (1.0, 1.0),
    "scale.scale": (1.0, 1.0),
}


def config(name):
    return load_config(osp.join(ROOT, "configs", f"{name}.py"))


def parameter_kinds(model):
    """``{parameter: kind}`` from the module type that owns each parameter (table keys)."""
    kinds = {}
    dcn_offsets = set()
    for module in model.modules():
        if isinstance(module, ModulatedDeformConv2d):
            dcn_offsets.update(id(p) for p in module.conv_offset.parameters())
    for mod_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            full = f"{mod_name}.{name}"
            if isinstance(module, ModulatedDeformConv2d):
                kind = "dcn"
            elif isinstance(module, nn.Conv2d):
                kind = "dcn_offset" if id(param) in dcn_offsets else "conv"
            elif isinstance(module, nn.GroupNorm):
                kind = "gn"
            elif isinstance(module, Scale):
                kind = "scale"
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                kind = "frozen_bn"
            else:
                raise AssertionError(f"{full}: parameter of an unexpected {type(module).__name__}")
            kinds[param] = (full, f"{kind}.{name}")
    return kinds


@pytest.fixture(scope="module", params=["fcos3d_0.25", "lzu_fcos3d_0.25"])
def paper_model_and_optimizer(request):
    from mono3d_fixtures import build_model

    cfg = config(request.param)
    overrides = {}
    if "grid_generator" in cfg.model:
        overrides["grid_generator"] = dict(
            cfg.model.grid_generator, saliency_file=osp.join(ROOT, "saliency.pkl"))
    model, cfg = build_model(osp.join(ROOT, "configs", f"{request.param}.py"), **overrides)
    return model, build_optim_wrapper(model, cfg.optim_wrapper)


def test_every_parameter_gets_the_papers_lr_and_weight_decay(paper_model_and_optimizer):
    model, wrapper = paper_model_and_optimizer
    groups = {id(p): g for g in wrapper.optimizer.param_groups for p in g["params"]}
    seen = {kind: 0 for kind in PAPER_MULTIPLIERS}
    for param, (name, kind) in parameter_kinds(model).items():
        frozen = kind.startswith("frozen_bn") or name.startswith(("backbone.conv1", "backbone.layer1"))
        if frozen:
            # frozen BatchNorm and stage 1 get no gradient, so no optimizer update
            assert not param.requires_grad and id(param) not in groups, name
            continue
        assert param.requires_grad and id(param) in groups, name
        lr_mult, decay_mult = PAPER_MULTIPLIERS[kind]
        group = groups[id(param)]
        assert group["lr"] == pytest.approx(BASE_LR * lr_mult, rel=1e-12), (name, kind)
        assert group["weight_decay"] == pytest.approx(BASE_WD * decay_mult, rel=1e-12), (name, kind)
        assert group["momentum"] == 0.9, name
        seen[kind] += 1
    # every kind of the table occurs (the 12 head GroupNorm biases among them)
    assert all(seen.values()), seen
    assert sum(1 for _, (n, k) in parameter_kinds(model).items()
               if k == "gn.bias" and n.startswith("bbox_head.")) == 12


def test_head_groupnorm_biases_are_decayed_as_in_mmcv_1x(paper_model_and_optimizer):
    """The one rule mmengine changed: norm biases are norm parameters first (decay x1, lr x1)."""
    model, wrapper = paper_model_and_optimizer
    groups = {id(p): g for g in wrapper.optimizer.param_groups for p in g["params"]}
    biases = [p for n, p in model.named_parameters() if n.startswith("bbox_head") and
              n.endswith("gn.bias")]
    assert len(biases) == 12
    assert {(groups[id(p)]["lr"], groups[id(p)]["weight_decay"]) for p in biases} == {
        (BASE_LR, BASE_WD)}


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_configs_share_the_papers_optimizer(name):
    cfg = config(name)
    assert cfg.optim_wrapper.optimizer == dict(type="SGD", lr=BASE_LR, momentum=0.9,
                                               weight_decay=BASE_WD)
    assert cfg.optim_wrapper.paramwise_cfg == dict(bias_lr_mult=2.0, bias_decay_mult=0.0,
                                                   norm_decay_mult=1.0)
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=35, norm_type=2)
    assert cfg.train_cfg.max_epochs == 12


# ------------------------------------------------------------------ schedule


def paper_lr(i, epoch, base=BASE_LR):
    """mmcv 1.x: linear warm-up from 1/3 over 500 iterations, times 0.1 at epochs 8 and 11."""
    regular = base * 0.1 ** sum(epoch >= m for m in (8, 11))
    if i >= 500:
        return regular
    return regular * (1 - (1 - i / 500) * (1 - 1 / 3))


def lr_trace(name, epoch_length, epochs):
    """The lr each iteration trains with, stepping the config's schedulers as mmengine's
    ``ParamSchedulerHook`` does (iteration-based after every iteration, epoch-based after
    every epoch). Returns ``{(epoch, iteration): lr}``."""
    cfg = config(name)
    param = nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=BASE_LR, momentum=0.9)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer))
                  for s in cfg.param_scheduler]
    trace, it = {}, 0
    for epoch in range(epochs):
        for _ in range(epoch_length):
            trace[(epoch, it)] = optimizer.param_groups[0]["lr"]
            optimizer.step()
            for s in schedulers:
                if not s.by_epoch:
                    s.step()
            it += 1
        for s in schedulers:
            if s.by_epoch:
                s.step()
    return trace


@pytest.mark.parametrize("name", ["fcos3d_0.25", "lzu_fcos3d_1.00"])
def test_warmup_reaches_the_base_lr_at_iteration_500_as_in_the_paper(name):
    trace = lr_trace(name, epoch_length=1000, epochs=1)
    lr = {i: value for (_, i), value in trace.items()}
    # the paper's values (7 significant digits), then its formula to float64 rounding
    table = {0: 3.333333e-4, 1: 3.346667e-4, 250: 6.666667e-4, 499: 9.986667e-4, 500: 1e-3}
    for i, expected in table.items():
        assert lr[i] == pytest.approx(expected, rel=5e-7), i
    for i in range(1000):
        assert lr[i] == pytest.approx(paper_lr(i, 0), rel=1e-12, abs=0), i


def test_lr_drops_at_epochs_8_and_11():
    epoch_length = 600
    trace = lr_trace("lzu_fcos3d_0.75", epoch_length, epochs=12)
    for (epoch, i), value in trace.items():
        assert value == pytest.approx(paper_lr(i, epoch), rel=1e-12), (epoch, i)
    expected = {1: 1e-3, 7: 1e-3, 8: 1e-4, 10: 1e-4, 11: 1e-5}
    for (epoch, _), value in trace.items():
        if epoch in expected:
            assert value == pytest.approx(expected[epoch], rel=1e-12), epoch


@pytest.mark.parametrize("gpus, expected", [(2, 1.0), (1, 0.5), (4, 2.0)])
def test_total_batch_is_16_and_auto_scale_lr_follows_the_gpu_count(gpus, expected):
    """2 GPUs x 8 images is the paper's batch; ``--auto-scale-lr`` scales by world size x 8 / 16."""
    cfg = config("lzu_fcos3d_0.50")
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    param = nn.Parameter(torch.zeros(1))
    wrapper = OptimWrapper(torch.optim.SGD([param], lr=BASE_LR))
    fake_runner = types.SimpleNamespace(
        _train_dataloader=dict(cfg.train_dataloader), world_size=gpus, param_schedulers=None,
        logger=MMLogger.get_instance("test_auto_scale_lr"))
    Runner.scale_lr(fake_runner, wrapper, dict(cfg.auto_scale_lr, enable=True))
    assert wrapper.optimizer.param_groups[0]["lr"] == pytest.approx(BASE_LR * expected)
    # without the flag, nothing changes
    Runner.scale_lr(fake_runner, wrapper, cfg.auto_scale_lr)
    assert wrapper.optimizer.param_groups[0]["lr"] == pytest.approx(BASE_LR * expected)


# ------------------------------------------------------------------ resume


class _Toy(BaseModel):
    """A conv, a GroupNorm and a ``Scale`` (the head's parameter kinds) in a few hundred weights."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gn = nn.GroupNorm(2, 4)
        self.scale = Scale(1.0)
        self.out = nn.Conv2d(4, 1, 1)

    def forward(self, inputs, data_samples=None, mode="tensor"):
        x = torch.stack(inputs)
        pred = self.out(self.scale(self.gn(self.conv(x)))).mean(dim=(1, 2, 3))
        if mode == "loss":
            return {"loss": ((pred - x.mean(dim=(1, 2, 3))) ** 2).mean()}
        return pred


class _RecordLr(Hook):
    """``trace[iteration]``: every param group's lr as the iteration starts."""

    def __init__(self):
        self.trace = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.trace[runner.iter] = [g["lr"] for g in runner.optim_wrapper.param_groups]


def _train_toy(work_dir, max_epochs, resume_from=None):
    cfg = config("lzu_fcos3d_0.25")
    g = torch.Generator().manual_seed(0)
    data = [dict(inputs=torch.randn(3, 6, 6, generator=g)) for _ in range(50)]
    recorder = _RecordLr()
    runner = Runner(
        model=_Toy(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=data, sampler=dict(type="DefaultSampler", shuffle=True),
                              batch_size=1, num_workers=0, collate_fn=dict(type="pseudo_collate")),
        optim_wrapper=cfg.optim_wrapper, param_scheduler=cfg.param_scheduler,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1),
                           logger=dict(type="LoggerHook", interval=1000)),
        custom_hooks=[recorder], randomness=dict(seed=0), log_level="WARNING",
        resume=resume_from is not None, load_from=resume_from, default_scope="mmengine")
    runner.train()
    return recorder.trace, torch.load(osp.join(work_dir, f"epoch_{max_epochs}.pth"),
                                      map_location="cpu", weights_only=False)


@pytest.fixture
def restore_default_scope():
    """A Runner makes its default scope the current one for the whole process; later tests
    build from other registries, so put mmengine's scope table back as it was."""
    from mmengine.registry import DefaultScope

    before = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)


@pytest.mark.usefixtures("restore_default_scope")
def test_resume_at_an_epoch_boundary_continues_the_same_lr_and_momentum(tmp_path):
    """50 iterations an epoch: epoch 5 ends mid warm-up, the epoch-8 step comes after resume."""
    straight, a = _train_toy(tmp_path / "straight", 10)
    resumed, b = _train_toy(tmp_path / "resumed", 10, str(tmp_path / "straight" / "epoch_5.pth"))
    assert sorted(resumed) == list(range(250, 500))
    for it in range(250, 500):
        assert resumed[it] == straight[it], it
    assert straight[250][0] == pytest.approx(paper_lr(250, 5), rel=1e-12)
    assert straight[450][0] == pytest.approx(paper_lr(450, 9), rel=1e-12)
    assert a["param_schedulers"] == b["param_schedulers"]
    for key, value in a["state_dict"].items():
        assert torch.equal(b["state_dict"][key], value), key
    for key, state in a["optimizer"]["state"].items():
        assert torch.equal(b["optimizer"]["state"][key]["momentum_buffer"], state["momentum_buffer"])
