"""The synthetic nuScenes writer: the devkit loads it, scores it, and its pixels match its boxes."""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from nuscenes import NuScenes
from nuscenes.eval.detection.config import config_factory
from nuscenes.eval.detection.evaluate import DetectionEval
from nuscenes.eval.detection.utils import category_to_detection_name
from nuscenes.utils import splits
from nuscenes.utils.data_classes import LidarPointCloud
from nuscenes.utils.geometry_utils import BoxVisibility, points_in_box, view_points
from PIL import Image
from pyquaternion import Quaternion

from lzu.data.synthetic import write_synthetic_nuscenes
from lzu.data.synthetic.nuscenes_writer import (
    CAMERA_CHANNELS,
    CLASS_COLOURS,
    FRONT_SHADE,
    LIDAR_CHANNEL,
    ROAD_COLOUR,
    SKY_COLOUR,
)

VERSION = "v1.0-mini"
TABLES = (
    "category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor",
    "ego_pose", "log", "scene", "sample", "sample_data", "sample_annotation", "map",
)
CLASS_ATTRIBUTES = {
    "car": "vehicle", "truck": "vehicle", "trailer": "vehicle", "bus": "vehicle",
    "construction_vehicle": "vehicle", "bicycle": "cycle", "motorcycle": "cycle",
    "pedestrian": "pedestrian", "traffic_cone": None, "barrier": None,
}
STATIC_ATTRIBUTES = {
    "vehicle.parked", "vehicle.stopped", "cycle.without_rider",
    "pedestrian.standing", "pedestrian.sitting_lying_down",
}
CLASS_RANGE = config_factory("detection_cvpr_2019").class_range


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The tiny default set (2 train + 1 val scene x 3 key frames) and its summary."""
    root = tmp_path_factory.mktemp("synthetic_nuscenes")
    summary = write_synthetic_nuscenes(root, train_scenes=2, val_scenes=1, samples_per_scene=3, seed=0)
    return root, summary


@pytest.fixture(scope="module")
def nusc(dataset):
    return NuScenes(version=VERSION, dataroot=str(dataset[0]), verbose=False)


def _tables(root):
    out = {}
    for name in TABLES:
        with open(os.path.join(root, VERSION, f"{name}.json"), "rb") as f:
            out[name] = f.read()
    return out


def _detection_name(nusc, ann):
    return category_to_detection_name(ann["category_name"])


def _ego_distance(nusc, ann):
    sample = nusc.get("sample", ann["sample_token"])
    pose = nusc.get("ego_pose", nusc.get("sample_data", sample["data"][LIDAR_CHANNEL])["ego_pose_token"])
    return math.hypot(*(np.array(ann["translation"][:2]) - np.array(pose["translation"][:2])))


def _centres_in_image(nusc, sd_token):
    """Boxes of one camera image whose centre projects inside it: ``{ann_token: (u, v, depth)}``."""
    sd = nusc.get("sample_data", sd_token)
    _, boxes, intrinsic = nusc.get_sample_data(sd_token, box_vis_level=BoxVisibility.ANY)
    out = {}
    for box in boxes:
        depth = box.center[2]
        u, v = view_points(box.center[:, None], intrinsic, normalize=True)[:2, 0]
        if depth > 0 and 0 <= u < sd["width"] and 0 <= v < sd["height"]:
            out[box.token] = (u, v, depth)
    return out


def _distance_to_segment(p, a, b):
    """Euclidean distance from RGB ``p`` to the segment ``[a, b]``."""
    p, a, b = (np.asarray(x, dtype=np.float64) for x in (p, a, b))
    t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + t * (b - a))))


def _write_results(nusc, path, noise=None):
    """Write the mini_val ground truth as a devkit result file, optionally jittering x."""
    rng = np.random.default_rng(0)
    val_scenes = {s["token"] for s in nusc.scene if s["name"] in splits.mini_val}
    results = {}
    for sample in nusc.sample:
        if sample["scene_token"] not in val_scenes:
            continue
        boxes = []
        for token in sample["anns"]:
            ann = nusc.get("sample_annotation", token)
            translation = list(ann["translation"])
            if noise is not None:
                translation[0] += float(rng.normal(0.0, noise))
            attrs = [nusc.get("attribute", t)["name"] for t in ann["attribute_tokens"]]
            boxes.append({
                "sample_token": sample["token"],
                "translation": translation,
                "size": ann["size"],
                "rotation": ann["rotation"],
                "velocity": [float(v) for v in nusc.box_velocity(token)[:2]],
                "detection_name": _detection_name(nusc, ann),
                "detection_score": 1.0,
                "attribute_name": attrs[0] if attrs else "",
            })
        results[sample["token"]] = boxes
    meta = {"use_camera": True, "use_lidar": False, "use_radar": False, "use_map": False,
            "use_external": False}
    with open(path, "w") as f:
        json.dump({"meta": meta, "results": results}, f)


def _nds(nusc, tmp_path, name, noise=None):
    result_path = tmp_path / f"{name}.json"
    _write_results(nusc, result_path, noise)
    evaluator = DetectionEval(nusc, config_factory("detection_cvpr_2019"), str(result_path),
                              eval_set="mini_val", output_dir=str(tmp_path / name), verbose=False)
    return evaluator.main(plot_examples=0, render_curves=False)


def test_loads_with_the_devkit(dataset, nusc):
    root, summary = dataset
    assert summary["version"] == VERSION
    assert summary["train"]["scenes"] == 2 and summary["val"]["scenes"] == 1
    assert summary["train"]["samples"] == 6 and summary["val"]["samples"] == 3
    assert len(nusc.scene) == 3 and len(nusc.sample) == 9
    assert summary["train"]["annotations"] + summary["val"]["annotations"] == len(nusc.sample_annotation)
    names = [s["name"] for s in nusc.scene]
    assert names[:2] == splits.mini_train[:2] and names[2:] == splits.mini_val[:1]
    for scene in nusc.scene:
        assert scene["nbr_samples"] == 3
    for sample in nusc.sample:
        assert set(sample["data"]) == set(CAMERA_CHANNELS) | {LIDAR_CHANNEL}
        for channel, token in sample["data"].items():
            sd = nusc.get("sample_data", token)
            path = os.path.join(root, sd["filename"])
            assert sd["is_key_frame"] and os.path.isfile(path)
            if channel == LIDAR_CHANNEL:
                assert sd["filename"].endswith(".pcd.bin")
                assert os.path.getsize(path) % (5 * 4) == 0
            else:
                with Image.open(path) as im:
                    assert im.format == "JPEG" and im.size == (sd["width"], sd["height"]) == (1600, 900)
                intrinsic = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])["camera_intrinsic"]
                assert np.array(intrinsic).shape == (3, 3)
    for log in nusc.log:
        assert os.path.isfile(os.path.join(root, nusc.get("map", log["map_token"])["filename"]))


def test_channels_are_linked_per_scene(nusc):
    for scene in nusc.scene:
        first = nusc.get("sample", scene["first_sample_token"])
        for channel in CAMERA_CHANNELS + (LIDAR_CHANNEL,):
            sd = nusc.get("sample_data", first["data"][channel])
            assert sd["prev"] == ""
            chain = [sd]
            while chain[-1]["next"]:
                chain.append(nusc.get("sample_data", chain[-1]["next"]))
            assert len(chain) == scene["nbr_samples"]
            stamps = [s["timestamp"] for s in chain]
            assert np.all(np.diff(stamps) == 500_000)


def test_same_seed_same_bytes_and_safe_rewrite(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    kwargs = dict(train_scenes=1, val_scenes=1, samples_per_scene=2)
    write_synthetic_nuscenes(a, seed=0, **kwargs)
    first = _tables(a)
    write_synthetic_nuscenes(a, seed=1, **kwargs)
    assert _tables(a) != first
    write_synthetic_nuscenes(a, seed=0, **kwargs)
    write_synthetic_nuscenes(b, seed=0, **kwargs)
    assert _tables(a) == first == _tables(b)
    sd = json.loads(first["sample_data"])
    for record in sd:
        with open(a / record["filename"], "rb") as fa, open(b / record["filename"], "rb") as fb:
            assert fa.read() == fb.read()
    tokens = [r["token"] for r in sd]
    assert all(re.fullmatch("[0-9a-f]{32}", t) for t in tokens) and len(set(tokens)) == len(tokens)
    write_synthetic_nuscenes(a, seed=0, train_scenes=3, val_scenes=1, samples_per_scene=2)
    write_synthetic_nuscenes(a, seed=0, **kwargs)
    assert _tables(a) == first
    assert len(os.listdir(a / "samples" / "CAM_FRONT")) == 2 * 2  # no stale files of the bigger set


def test_refuses_bad_options_and_foreign_data(tmp_path):
    with pytest.raises(ValueError, match="mini_train"):
        write_synthetic_nuscenes(tmp_path / "x", train_scenes=9)
    with pytest.raises(ValueError, match="mini_val"):
        write_synthetic_nuscenes(tmp_path / "x", val_scenes=3)
    with pytest.raises(ValueError, match="samples_per_scene"):
        write_synthetic_nuscenes(tmp_path / "x", samples_per_scene=1)
    (tmp_path / "real" / VERSION).mkdir(parents=True)
    with pytest.raises(FileExistsError):
        write_synthetic_nuscenes(tmp_path / "real")


def test_every_annotation_is_seen_by_a_camera(nusc):
    seen = set()
    for sample in nusc.sample:
        for channel in CAMERA_CHANNELS:
            seen.update(_centres_in_image(nusc, sample["data"][channel]))
    assert seen == {a["token"] for a in nusc.sample_annotation}


def test_pixels_show_the_nearest_object(dataset, nusc):
    """At the projected centre of the nearest box of an image, the JPEG shows its class colour."""
    root = dataset[0]
    checked = 0
    for sample in nusc.sample:
        for channel in CAMERA_CHANNELS:
            sd_token = sample["data"][channel]
            _, boxes, _ = nusc.get_sample_data(sd_token, box_vis_level=BoxVisibility.ANY)
            centres = _centres_in_image(nusc, sd_token)
            if not boxes:
                continue
            nearest = min(boxes, key=lambda box: np.linalg.norm(box.center))
            if nearest.token not in centres:
                continue
            u, v, _ = centres[nearest.token]
            with Image.open(os.path.join(root, nusc.get("sample_data", sd_token)["filename"])) as im:
                pixel = im.convert("RGB").getpixel((int(u), int(v)))
            colour = np.array(CLASS_COLOURS[category_to_detection_name(nearest.name)])
            assert _distance_to_segment(pixel, FRONT_SHADE * colour, colour) < 40, (channel, pixel)
            for background in (SKY_COLOUR, ROAD_COLOUR):
                assert np.linalg.norm(np.subtract(pixel, background)) > 40
            checked += 1
    assert checked >= 10


def test_annotations_are_valid(nusc):
    val_scenes = {s["token"] for s in nusc.scene if s["name"] in splits.mini_val}
    val_classes = set()
    for ann in nusc.sample_annotation:
        name = _detection_name(nusc, ann)
        assert name in CLASS_RANGE
        if nusc.get("sample", ann["sample_token"])["scene_token"] in val_scenes:
            val_classes.add(name)
        attrs = [nusc.get("attribute", t)["name"] for t in ann["attribute_tokens"]]
        group = CLASS_ATTRIBUTES[name]
        if group is None:
            assert attrs == []
        else:
            assert len(attrs) == 1 and attrs[0].split(".")[0] == group
        assert ann["num_lidar_pts"] > 0
        assert ann["visibility_token"] in {"1", "2", "3", "4"}
        assert _ego_distance(nusc, ann) < CLASS_RANGE[name]
        velocity = nusc.box_velocity(ann["token"])
        assert np.all(np.isfinite(velocity))
        if attrs and attrs[0] in STATIC_ATTRIBUTES or not attrs:
            assert np.allclose(velocity, 0.0)
        assert np.linalg.norm(velocity[:2]) < 12.0
    assert val_classes == set(CLASS_RANGE)
    for inst in nusc.instance:
        assert inst["nbr_annotations"] >= 2
        ann = nusc.get("sample_annotation", inst["first_annotation_token"])
        count = 1
        while ann["next"]:
            ann = nusc.get("sample_annotation", ann["next"])
            assert ann["instance_token"] == inst["token"]
            count += 1
        assert count == inst["nbr_annotations"] and ann["token"] == inst["last_annotation_token"]


def test_lidar_points_match_num_lidar_pts(nusc):
    for sample in nusc.sample:
        sd = nusc.get("sample_data", sample["data"][LIDAR_CHANNEL])
        cloud = LidarPointCloud.from_file(nusc.get_sample_data_path(sd["token"]))
        calib = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        pose = nusc.get("ego_pose", sd["ego_pose_token"])
        cloud.rotate(Quaternion(calib["rotation"]).rotation_matrix)
        cloud.translate(np.array(calib["translation"]))
        cloud.rotate(Quaternion(pose["rotation"]).rotation_matrix)
        cloud.translate(np.array(pose["translation"]))
        for token in sample["anns"]:
            inside = points_in_box(nusc.get_box(token), cloud.points[:3])
            assert int(inside.sum()) == nusc.get("sample_annotation", token)["num_lidar_pts"]


def test_detection_eval_scores_ground_truth_perfectly(nusc, tmp_path):
    perfect = _nds(nusc, tmp_path, "perfect")
    assert perfect["nd_score"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["mean_ap"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["tp_errors"]["vel_err"] == pytest.approx(0.0, abs=1e-6)
    noisy = _nds(nusc, tmp_path, "noisy", noise=0.5)
    assert noisy["nd_score"] < 0.98
    assert noisy["tp_errors"]["trans_err"] > 0.1


def test_cli_prints_the_summary(tmp_path, repo_root):
    root = tmp_path / "cli"
    cmd = [sys.executable, "tools/make_synthetic_nuscenes.py", "--root", str(root),
           "--train-scenes", "1", "--val-scenes", "1", "--samples-per-scene", "2", "--seed", "3"]
    out = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, check=True).stdout
    assert "train: 1 scenes, 2 samples" in out and "val: 1 scenes, 2 samples" in out
    assert os.path.isfile(root / VERSION / "sample_annotation.json")


@pytest.mark.parametrize(("tool", "args", "message"), [
    ("make_synthetic_nuscenes", ["--image-size", "64", "36"],
     "--image-size 64 36 is too small: the smallest that places every class in view is "
     "--image-size 64 64"),
    ("make_synthetic_nuscenes", ["--image-size", "40", "900"], "--image-size 64 64"),
    ("make_synthetic_cityscapes", ["--size", "16", "64"],
     "--size 16 64 is too small: the smallest frame is --size 32 32"),
    ("make_synthetic_cityscapes", ["--val-frames", "0"], "--val-frames 0: give at least 1"),
])
def test_sizes_too_small_are_refused_naming_the_argument_and_the_smallest(tool, args, message,
                                                                          tmp_path):
    from conftest import run_tool

    result = run_tool([f"tools/{tool}.py", "--root", str(tmp_path / "set"), *args])
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in out, out[-2000:]
    assert f"{tool}: error: --" in out and message in out
    assert not (tmp_path / "set").exists()


@pytest.mark.parametrize("seed", range(4))
def test_the_smallest_image_size_places_every_class(seed, tmp_path):
    from lzu.data.synthetic.spec import MIN_IMAGE_SIZE

    summary = write_synthetic_nuscenes(tmp_path / "s", train_scenes=1, val_scenes=1,
                                       samples_per_scene=2, seed=seed, image_size=MIN_IMAGE_SIZE)
    assert summary["train"]["annotations"] >= 10 and summary["val"]["annotations"] >= 10
