"""Saliency from data: FOVEA's dataset-wide KDE, written in the paper's format."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from lzu.core.fixed_grid import FixedGrid
from lzu.data.infos import InfoFileError, camera_boxes, load_infos
from lzu.data.saliency_kde import kde_saliency, node_positions


def test_single_box_peaks_at_its_centre():
    # a box centred exactly on grid node (13, 30)
    xs, ys = node_positions(48, 1600), node_positions(27, 900)
    cx, cy = xs[30], ys[13]
    s = kde_saliency([[cx - 20, cy - 10, 40, 20]])[0, 0]
    r, c = np.unravel_index(int(s.argmax()), s.shape)
    assert (r, c) == (13, 30)


def test_output_is_normalised_float32_and_has_the_uniform_floor():
    g = np.random.default_rng(0)
    boxes = np.c_[g.uniform(0, 1500, 500), g.uniform(350, 550, 500), g.uniform(5, 100, (500, 2))]
    s = kde_saliency(boxes)
    assert s.shape == (1, 1, 27, 48) and s.dtype == torch.float32
    assert abs(s.sum().item() - 1.0) < 1e-5
    # floor: per box 1/(2p+1)^2 per cell against a total mass of a + gh*gw/(2p+1)^2
    floor = (1 / 53**2) / (1 + 27 * 48 / 53**2)
    assert s.min().item() == pytest.approx(floor, rel=0.05)
    assert s.min().item() / (1 / (27 * 48)) == pytest.approx(0.316, abs=0.01)


def test_boxes_on_one_row_give_a_row_marginal_peaked_there():
    g = np.random.default_rng(1)
    y = node_positions(27, 900)[15]
    boxes = np.c_[g.uniform(0, 1550, 300), np.full(300, y - 8), g.uniform(10, 60, 300), np.full(300, 16)]
    rows = kde_saliency(boxes)[0, 0].sum(dim=1)
    assert int(rows.argmax()) == 15
    assert rows[15] > 3 * rows[5]


def test_bandwidth_widens_the_kernel():
    box = [[780, 440, 40, 20]]
    narrow = kde_saliency(box, bandwidth=4)[0, 0]
    wide = kde_saliency(box, bandwidth=256)[0, 0]
    assert narrow.max() > wide.max()


def test_far_off_box_does_not_underflow():
    s = kde_saliency([[1e5, 1e5, 1, 1]])
    assert torch.isfinite(s).all() and abs(s.sum().item() - 1) < 1e-5


def _write_infos(path, data):
    with open(path, "wb") as f:
        pickle.dump(data, f)


def test_tool_writes_a_file_fixedgrid_loads_and_keeps_existing(tmp_path, repo_root):
    infos = {"metainfo": {"version": "v1.0-mini"}, "data_list": [
        {"cam_instances": {"CAM_FRONT": [{"bbox": [700, 420, 760, 470]}, {"bbox": [100, 400, 180, 460]}],
                           "CAM_BACK": [{"bbox": [900, 430, 950, 480]}]}},
        {"cam_instances": {"CAM_FRONT_LEFT": [{"bbox": [300, 440, 330, 470]}]}},
    ]}
    path = tmp_path / "infos.pkl"
    _write_infos(path, infos)
    assert camera_boxes(load_infos(str(path))).shape == (4, 4)
    out = tmp_path / "saliency.pkl"
    cmd = [sys.executable, "tools/make_saliency.py", "--infos", str(path), "--out", str(out)]
    subprocess.run(cmd, cwd=repo_root, check=True, capture_output=True)
    grid = FixedGrid(str(out), (90, 160))
    assert abs(grid.saliency.sum().item() - 1) < 1e-5
    before = out.read_bytes()
    result = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True)
    assert result.returncode != 0 and "kept" in result.stderr
    assert out.read_bytes() == before


def test_info_file_errors(tmp_path):
    with pytest.raises(InfoFileError, match="not found"):
        load_infos(str(tmp_path / "missing.pkl"))
    v1 = tmp_path / "v1.pkl"
    _write_infos(v1, {"infos": [], "metadata": {"version": "v1.0-mini"}})
    with pytest.raises(InfoFileError, match="v1 format"):
        load_infos(str(v1))
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(b"\x80\x04garbage")
    with pytest.raises(InfoFileError, match="corrupt"):
        load_infos(str(corrupt))
