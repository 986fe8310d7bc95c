"""Valid ``--cfg-options`` are accepted and kept as given: numbers of either kind, the arguments a
model class really takes (through its mixins' ``**kwargs``), every example the docs give, and
string values (paths) with spaces, through the tools and ``run.sh``."""

import glob
import os
import os.path as osp
import pickle
import re
import shlex
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, run_tool
from helpers import assert_clean_error, write_coco_set
from mmengine.config import Config

from lzu.apis.runtime import (
    DictAction,
    OptionError,
    cfg_option,
    check_cfg_options,
    constructor_accepts,
    parse_cfg_options,
    registered,
)

FOVEA = "configs/det2d/fovea_fcos_0.50.py"
FOVEA_RCNN = "configs/det2d/fovea_lzugrid_faster_rcnn_0.50.py"
LZU_ADAPTIVE = "configs/det2d/lzu_adaptive_fcos_0.50.py"
LZU_3D = "configs/lzu_fcos3d_0.25.py"
SEG = "configs/seg/lzu_fcn_r50-d8_512x512.py"


def _config(path):
    return Config.fromfile(osp.join(ROOT, path))


# ------------------------------------------------------------ numbers and documented keys


@pytest.mark.parametrize("config, options", [
    (LZU_ADAPTIVE, {"model.grid_generator.attraction_fwhm": 12.5}),  # the config holds 10
    (LZU_3D, {"model.grid_generator.attraction_fwhm": 12.5}),
    (LZU_3D, {"optim_wrapper.clip_grad.max_norm": 12.5}),           # the config holds 35
    (LZU_3D, {"optim_wrapper.optimizer.lr": 1}),                    # an int for a float
    (FOVEA, {"model.unwarp_samples": 5}),                           # FoveaDetectorMixin's
    (FOVEA_RCNN, {"model.unwarp_samples": 5}),
    (FOVEA_RCNN, {"model.gt_frame": "original"}),
    (FOVEA, {"model.follow_flips": False}),                         # LZUFeaturesMixin's
    (LZU_ADAPTIVE, {"model.pad_size_divisor": 64}),
    (LZU_ADAPTIVE, {"model.pipeline_pad": None}),
    (LZU_3D, {"model.zoom_region": "padded"}),
    (LZU_3D, {"model.unzoom_border": "paper"}),
    (LZU_ADAPTIVE, {"model.grid_generator.border": "paper"}),      # AdaptiveGrid's
])
def test_valid_options_are_accepted(config, options):
    check_cfg_options(_config(config), options)


@pytest.mark.parametrize("config, options, message", [
    (LZU_ADAPTIVE, {"model.grid_generator.attraction_fwhm": True}, "expected int"),
    (LZU_ADAPTIVE, {"model.grid_generator.attraction_fwhm": "wide"}, "expected int"),
    (LZU_3D, {"train_dataloader.batch_size": 2.5}, "expected int"),
    (LZU_3D, {"train_dataloader.num_workers": 1.5}, "expected int"),
    (FOVEA, {"model.unwarp_sample": 5}, "no key 'model.unwarp_sample'"),      # a typo
    (LZU_ADAPTIVE, {"model.unzom_border": "paper"}, "no key 'model.unzom_border'"),
    (LZU_ADAPTIVE, {"model.unwarp_samples": 5}, "no key 'model.unwarp_samples'"),  # not FOVEA
])
def test_invalid_options_are_still_refused(config, options, message):
    with pytest.raises(OptionError, match=message):
        check_cfg_options(_config(config), options)


def _type_dicts(node):
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            yield node
        for value in node.values():
            yield from _type_dicts(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _type_dicts(value)


@pytest.mark.parametrize("config", [FOVEA, FOVEA_RCNN, LZU_ADAPTIVE, LZU_3D, SEG])
def test_every_key_a_config_sets_is_one_its_class_takes(config):
    """The check's view of a class (its ``__init__`` chain through ``**kwargs``) admits every
    key the shipped configs give it: it refuses no valid key. (Types no registry holds, such
    as a head's ``nms`` settings, accept no new key.)"""
    tree = _config(config).to_dict()
    scope = tree.get("default_scope")
    known = [d for d in _type_dicts(tree) if registered(d["type"], scope) is not None]
    assert len(known) > 10
    refused = sorted({(d["type"], k) for d in known for k in d
                      if k != "type" and not constructor_accepts(d["type"], k, scope)})
    assert not refused


def _doc_examples():
    """``(doc, config or None, [key=value, ...])`` for every ``--cfg-options`` example of the
    docs and the README; the config is the experiment or config the same command names."""
    for path in [*sorted(glob.glob(osp.join(ROOT, "docs", "*.md"))), osp.join(ROOT, "README.md")]:
        with open(path, encoding="utf-8") as f:
            text = f.read().replace("\\\n", " ")
        for match in re.finditer(r"--cfg-options", text):
            start, end = text.rfind("\n", 0, match.start()) + 1, text.find("\n", match.end())
            before, after = text[start:match.start()], text[match.end():end]
            if before.count("`") % 2:  # inside an inline code span
                before, after = before[before.rfind("`") + 1:], after.split("`")[0]
            pairs = []
            for token in shlex.split(after):
                if token.startswith("-") or "=" not in token:
                    break
                pairs.append(token)
            words = before.split()
            config = None
            if "run.sh" in words and words.index("run.sh") + 1 < len(words):
                config = f"configs/{words[words.index('run.sh') + 1]}.py"
            config = next((w for w in words if w.endswith(".py") and w.startswith("configs/")),
                          config)
            if pairs:
                yield osp.relpath(path, ROOT), config, pairs


def test_every_documented_cfg_options_example_is_accepted():
    examples = list(_doc_examples())
    assert len(examples) >= 3, examples
    candidates = sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, "configs", "*.py"))
                        if osp.basename(p).startswith("lzu"))
    for doc, config, pairs in examples:
        options = parse_cfg_options(["--cfg-options", *pairs])
        errors = []
        for candidate in [config] if config else candidates:
            try:
                check_cfg_options(_config(candidate), options)
                break
            except OptionError as err:
                errors.append(f"{candidate}: {err}")
        else:
            pytest.fail(f"{doc}: --cfg-options {' '.join(pairs)} refused: {errors}")


def test_documented_keys_through_the_train_tool(tmp_path):
    """The tool gets past the option check (to the data check: no data here)."""
    for config, option in [(FOVEA, "model.unwarp_samples=5"),
                           (LZU_ADAPTIVE, "model.grid_generator.attraction_fwhm=12.5")]:
        result = run_tool(["tools/train.py", config, "--data-root", str(tmp_path / "none"),
                           "--work-dir", str(tmp_path / "w"), "--cfg-options", option])
        assert_clean_error(result, "does not exist")


# ------------------------------------------------------------ strings keep every character


@pytest.mark.parametrize("text, value", [
    ("/data/my set/s.pkl", "/data/my set/s.pkl"),
    ('"/data/a,b (c)/s.pkl"', "/data/a,b (c)/s.pkl"),
    ("'x y'", "x y"),
    ("[ 'a b' , c ]", ["a b", "c"]),
    ("a b,c d", ["a b", "c d"]),
    # as mmengine parses them
    ("(540, 960)", (540, 960)),
    ("[64,128,256,512]", [64, 128, 256, 512]),
    ("(False,False,False,False)", (False, False, False, False)),
    ("1,2,3", [1, 2, 3]),
    ("[(1, 2, 3), [a, b], c]", [(1, 2, 3), ["a", "b"], "c"]),
    ("12.5", 12.5), ("8", 8), ("true", True), ("None", None), ("()", ()), ("[1,2,]", [1, 2]),
])
def test_values_are_parsed_without_losing_spaces(text, value):
    assert DictAction.parse_value(text) == value
    assert parse_cfg_options(["--cfg-options", f"k={text}"]) == {"k": value}


@pytest.mark.parametrize("path", ["/data/my set/s.pkl", "/d/a,b/[x] (y)/s.pkl", "/d/'q'/s.pkl"])
def test_cfg_option_round_trips_any_path(path):
    assert parse_cfg_options(["--cfg-options", cfg_option("k", path)]) == {"k": path}


def test_an_option_without_a_value_is_one_line(tmp_path):
    result = run_tool(["tools/train.py", LZU_3D, "--work-dir", str(tmp_path / "w"),
                       "--cfg-options", "model.unzoom_border"])
    assert_clean_error(result, "'model.unzoom_border' is not KEY=VALUE")


def test_a_data_root_with_a_space_through_run_sh(tmp_path):
    """``run.sh`` passes the saliency path with ``--cfg-options``: it reaches the model whole
    (here a saliency of the wrong grid, refused naming its path, spaces, commas and all)."""
    root = tmp_path / "my data, v2 [x]"
    write_coco_set(str(root))
    saliency = root / "bad s.pkl"
    with open(saliency, "wb") as f:
        pickle.dump(torch.ones(1, 1, 20, 48), f)
    env = dict(os.environ, LZU_PYTHON=sys.executable, PYTHONWARNINGS="ignore",
               DATA_ROOT=str(root), SALIENCY=str(saliency), WORK_DIR=str(tmp_path / "w"))
    result = subprocess.run(["sh", osp.join(ROOT, "run.sh"), "det2d/lzu_fcos_0.50"], cwd=tmp_path,
                            capture_output=True, text=True, env=env)
    assert_clean_error(result, f"saliency file '{saliency}'", "does not match grid_shape")


AWKWARD = "my data, v2 [x]"  # a space, a comma and brackets: each split or dropped before


def _options(argv):
    return parse_cfg_options(argv) or {}


def test_the_tools_that_build_options_pass_paths_whole(tmp_path, monkeypatch):
    """Every builder of ``--cfg-options`` (run.sh's run_experiment, the demos, the demos'
    train-and-score step) passes a path that the tools read back unchanged."""
    from helpers import load_tool

    from lzu.apis import train_score

    folder = tmp_path / AWKWARD
    folder.mkdir()
    saliency = str(folder / "s.pkl")
    with open(saliency, "wb") as f:
        pickle.dump(torch.ones(1, 1, 27, 48), f)
    det2d = load_tool("demo_det2d")
    for method, key in (("lzu", "model.grid_generator.saliency_file"),
                        ("lzu_adaptive", "model.adaptive_saliency.prior_file")):
        assert _options(["--cfg-options", *det2d.saliency_options(method, saliency)]) == {
            key: saliency}
    experiment = load_tool("run_experiment")
    monkeypatch.setenv("SALIENCY", saliency)
    got = experiment.ensure_saliency("configs/det2d/lzu_fcos_0.50.py", str(tmp_path), [])
    assert _options(got) == {"model.grid_generator.saliency_file": saliency}
    monkeypatch.delenv("SALIENCY")
    given = ["--cfg-options", cfg_option("model.grid_generator.saliency_file", saliency)]
    assert experiment._user_saliency(given) == saliency  # the user's quoted path, unquoted

    commands = []

    def run(cmd, log=None):
        commands.append(cmd)
        if "--out" in cmd:
            out = cmd[cmd.index("--out") + 1]
            os.makedirs(osp.dirname(out), exist_ok=True)
            with open(out, "w", encoding="utf-8") as f:
                f.write('{"summary": {}}')

    monkeypatch.setattr(train_score, "run", run)
    train_score.train_and_evaluate("python", str(tmp_path), "data", [("LZU", "configs/x/lzu.py")],
                                   saliency, 2, [], "a metric", 1, 2)
    for cmd in commands:
        assert _options(cmd)["model.grid_generator.saliency_file"] == saliency
