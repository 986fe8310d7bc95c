"""The demos' work dirs: a rerun with other options never reuses old results, and an incomplete
synthetic set is regenerated together with what was made from it."""

import sys

import pytest
from helpers import load_tool

from lzu.apis import demos


def test_demo_rerun_with_other_options_does_not_reuse(tmp_path):
    demo = load_tool("demo")
    wd = str(tmp_path / "demo")
    demos.check_options(wd, demo.parse_args(["--seed", "0"]))
    demos.check_options(wd, demo.parse_args(["--seed", "0"]))
    with pytest.raises(SystemExit, match=r"seed 0 -> 1.*--fresh"):
        demos.check_options(wd, demo.parse_args(["--seed", "1"]))
    with pytest.raises(SystemExit, match="scenes"):
        demos.check_options(wd, demo.parse_args(["--scenes", "3", "1"]))


def test_the_demos_regenerate_an_incomplete_set_and_what_was_made_from_it(tmp_path):
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
    assert demos.ensure_synthetic(str(root), options, cmd, [str(stale)], "1/5") is True
    assert not stale.exists()
    assert demos.ensure_synthetic(str(root), options, cmd, [str(stale)], "1/5") is False
