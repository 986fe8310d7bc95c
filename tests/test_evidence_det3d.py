"""The evidence benchmark's monocular 3-D task (lzu/apis/evidence/det3d.py) and its generator options."""

import importlib
import json

import numpy as np
import pytest

from lzu.data.synthetic import write_synthetic_nuscenes
from lzu.data.synthetic.completion import check_complete


def _distances(root):
    """Distance (m, ground plane) from the ego of every annotation of a synthetic set."""
    tables = {n: json.loads((root / "v1.0-mini" / f"{n}.json").read_text())
              for n in ("sample_annotation", "sample_data", "ego_pose")}
    pose_of = {}
    for sd in tables["sample_data"]:
        pose_of.setdefault(sd["sample_token"], sd["ego_pose_token"])
    poses = {p["token"]: p for p in tables["ego_pose"]}
    out = []
    for ann in tables["sample_annotation"]:
        ego = poses[pose_of[ann["sample_token"]]]["translation"]
        out.append(np.hypot(ann["translation"][0] - ego[0], ann["translation"][1] - ego[1]))
    return np.array(out)


def test_far_bias_and_object_count_options(tmp_path):
    """objects_per_sample adds objects, far_bias and objects_per_sample are recorded in the
    completion options (only when not the defaults), and bad values are refused."""
    kwargs = dict(train_scenes=2, val_scenes=0, samples_per_scene=3, seed=0, image_size=(400, 225))
    summaries, dists = {}, {}
    for name, extra in (("default", {}), ("far", {"far_bias": 1.0}),
                        ("many", {"objects_per_sample": (16, 20)})):
        root = tmp_path / name
        summaries[name] = write_synthetic_nuscenes(root, **kwargs, **extra)
        dists[name] = _distances(root)
        options = {"train_scenes": 2, "val_scenes": 0, "samples_per_scene": 3, "seed": 0,
                   "image_size": [400, 225]}
        if "far_bias" in extra:
            options["far_bias"] = 1.0
        if "objects_per_sample" in extra:
            options["objects_per_sample"] = [16, 20]
        assert check_complete(root, options) is None
    assert all(len(d) == summaries[n]["train"]["annotations"] for n, d in dists.items())
    assert summaries["many"]["train"]["annotations"] > 1.3 * summaries["default"]["train"]["annotations"]
    with pytest.raises(ValueError, match="far_bias"):
        write_synthetic_nuscenes(tmp_path / "bad", far_bias=-1.0)
    with pytest.raises(ValueError, match="objects_per_sample"):
        write_synthetic_nuscenes(tmp_path / "bad", objects_per_sample=(5, 2))


def test_draw_distance_follows_the_far_bias_density():
    """Distances of new objects: uniform for far_bias 0, density ~ d for 1 (median
    sqrt((lo^2 + hi^2) / 2)), ~ d^2 for 2 (median ((lo^3 + hi^3) / 2)^(1/3)), in range."""
    from lzu.data.synthetic.scene import _draw_distance
    from lzu.data.synthetic.spec import CLASSES

    spec = CLASSES[0]
    lo, hi = spec.distance
    for bias, median in ((0.0, (lo + hi) / 2), (1.0, ((lo**2 + hi**2) / 2) ** 0.5),
                         (2.0, ((lo**3 + hi**3) / 2) ** (1 / 3))):
        rng = np.random.default_rng(0)
        d = np.array([_draw_distance(rng, spec, bias) for _ in range(4000)])
        assert lo <= d.min() and d.max() <= hi
        assert np.median(d) == pytest.approx(median, abs=0.8)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert _draw_distance(a, spec, 0.0) == b.uniform(lo, hi)  # the default set's random stream


def test_det3d_task_quick_cell(tmp_path):
    """prepare() then one quick uniform run of a few iterations: the contract's keys, the size
    statistics, finite metrics in [0, 1], and a reused preparation on the second call."""
    det3d = importlib.import_module("lzu.apis.evidence.det3d")
    lines = []
    prepared = det3d.prepare(str(tmp_path), True, lines.append)
    assert len(prepared["saliency_sha256"]) == 64
    sizes = prepared["data"]["train"]["box_height_px"]
    assert set(sizes) == {"full_800x450", "0.25x_200x112", "0.5x_400x225"}
    full, quarter = sizes["full_800x450"], sizes["0.25x_200x112"]
    assert full["n"] > 50 and quarter["n"] == full["n"]
    assert quarter["p10_p25_p50_p75_p90"][2] == pytest.approx(full["p10_p25_p50_p75_p90"][2] / 4, abs=0.1)
    assert det3d.prepare(str(tmp_path), True, lines.append) == prepared
    assert any("reusing" in line for line in lines)

    cells = det3d.cells(True)
    assert {c["method"] for c in cells} == {"uniform", "lzu"}
    for cell_id in {c["cell"] for c in cells}:
        sizes = {tuple(c["output_size"]) for c in cells if c["cell"] == cell_id}
        assert len(sizes) == 1  # both methods of a cell share the output size
    cell = {**next(c for c in cells if c["method"] == "uniform"), "iters": 3}
    result = det3d.run(str(tmp_path), cell, 0, True, lines.append)
    assert set(result) == {"metrics", "config_sha256", "iters", "seconds"}
    assert set(result["metrics"]) == set(det3d.METRICS) and det3d.METRICS[0] == "NDS"
    assert set(det3d.SMALL_METRICS) <= set(det3d.METRICS)
    for name, value in result["metrics"].items():
        assert np.isfinite(value) and 0.0 <= value <= 1.0, name
    assert result["iters"] == 3 and len(result["config_sha256"]) == 64 and result["seconds"] > 0
    # one config hash per cell and method, whatever the seed; another method, another hash
    config, _ = det3d.build_config(str(tmp_path), cell, 5, True)
    assert det3d.config_sha256(config) == result["config_sha256"]
    lzu_cell = {**next(c for c in cells if c["method"] == "lzu"), "iters": 3}
    assert det3d.config_sha256(det3d.build_config(str(tmp_path), lzu_cell, 0, True)[0]) \
        != result["config_sha256"]
