"""A tiny synthetic dataset in the exact nuScenes on-disk layout (``v1.0-mini``).

``write_synthetic_nuscenes(root)`` writes the 13 JSON tables under
``root/v1.0-mini/``, one JPEG per camera and one ``.pcd.bin`` LiDAR sweep per
key frame under ``root/samples/<CHANNEL>/``, and small map PNGs under
``root/maps/``, so that ``nuscenes.NuScenes(version='v1.0-mini', dataroot=root)``,
the devkit's detection evaluation and mmdet3d's nuScenes converter accept it.

Conventions (those of nuScenes):

* Frames: global and ego are right-handed, z up; the ego's x points forward
  and y left, and the ego sits on the ground (ego pose z = 0). Cameras look
  along their z axis (x right, y down); LIDAR_TOP has x right, y forward.
* Poses and calibrations are sensor -> parent transforms: a quaternion
  ``(w, x, y, z)`` and a translation in metres.
* Boxes: centre in global coordinates, size ``(w, l, h)``, yaw about global z;
  the box's own x axis (its length) points to its heading ("front face").
* Timestamps are integers in microseconds; key frames are 0.5 s apart.
* Tokens are 32 hex characters, the md5 of a string built from the seed and
  the record's identity, so a seed fixes every byte of the output.

Scene names come from ``nuscenes.utils.splits`` (``mini_train`` / ``mini_val``),
hence at most 8 train and 2 val scenes. Every scene shows all 10 detection
classes, every object is seen by at least one camera at every key frame, and
every instance spans at least two key frames so its velocity is defined.

The generator is split by concept: ``spec`` (the dataset's constants and
tables), ``geometry`` (frames, projection, cameras, ego path), ``scene``
(object tracks and scene planning), ``render`` (images, visibility, LiDAR)
and this module (the JSON tables, files on disk and the entry point). Every file is
written with ``lzu.infra.atomic_io.atomic_open`` below the held ``root``
(``completion.begin``), so no link planted there is followed.
"""

import hashlib
import json
import os

import numpy as np
from PIL import Image

from lzu.data.synthetic import completion
from lzu.data.synthetic.geometry import _make_cameras, _yaw_quaternion
from lzu.data.synthetic.render import _background, _lidar_sweep, _render_camera, _visibility_token
from lzu.data.synthetic.scene import _plan_scene
from lzu.data.synthetic.spec import (
    _LIDAR_ROTATION,
    _LIDAR_TRANSLATION,
    ATTRIBUTES,
    CAMERA_CHANNELS,
    CLASS_COLOURS,
    CLASSES,
    FRONT_SHADE,
    JPEG_QUALITY,
    LIDAR_CHANNEL,
    LOCATIONS,
    MARKER_FILE,
    MIN_IMAGE_SIZE,
    MINI_TRAIN_SCENES,
    MINI_VAL_SCENES,
    OBJECTS_PER_SAMPLE,
    ROAD_COLOUR,
    SAMPLE_PERIOD_US,
    SKY_COLOUR,
    VERSION,
    VISIBILITY_LEVELS,
)
from lzu.infra.atomic_io import atomic_open, atomic_write_bytes

__all__ = [
    "CAMERA_CHANNELS",
    "CLASS_COLOURS",
    "FRONT_SHADE",
    "LIDAR_CHANNEL",
    "MINI_TRAIN_SCENES",
    "MINI_VAL_SCENES",
    "ROAD_COLOUR",
    "SKY_COLOUR",
    "VERSION",
    "write_synthetic_nuscenes",
]


class _Tables:
    """The 13 nuScenes tables being built, and the token scheme of one seed."""

    NAMES = (
        "category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor",
        "ego_pose", "log", "scene", "sample", "sample_data", "sample_annotation", "map",
    )

    def __init__(self, seed):
        self.seed = seed
        self.rows = {name: [] for name in self.NAMES}

    def token(self, *parts):
        """32-hex-character token of a record, a function of the seed and ``parts`` only."""
        key = "/".join(["lzu-synthetic-nuscenes", str(self.seed), *map(str, parts)])
        return hashlib.md5(key.encode("utf-8")).hexdigest()

    def add(self, table, record):
        """Append ``record`` to ``table``; returns the record."""
        self.rows[table].append(record)
        return record

    def write(self, table_root):
        """Write every table to ``table_root/<name>.json``."""
        for name in self.NAMES:
            with atomic_open(os.path.join(table_root, f"{name}.json"), "w") as f:
                json.dump(self.rows[name], f, indent=0)
                f.write("\n")


def _static_tables(tables, cameras):
    """Category, attribute, visibility and sensor tables; returns the token look-ups."""
    tokens = {}
    for spec in CLASSES:
        tokens[spec.category] = tables.token("category", spec.category)
        tables.add("category", {"token": tokens[spec.category], "name": spec.category,
                                "description": spec.description})
    for name, description in ATTRIBUTES:
        tokens[name] = tables.token("attribute", name)
        tables.add("attribute", {"token": tokens[name], "name": name, "description": description})
    for token, level, _ in VISIBILITY_LEVELS:
        lo, hi = level[1:].split("-")
        tables.add("visibility", {"token": token, "level": level,
                                  "description": f"visibility of whole object is between {lo} and {hi}%"})
    for channel, modality in [(cam.channel, "camera") for cam in cameras] + [(LIDAR_CHANNEL, "lidar")]:
        tokens[channel] = tables.token("sensor", channel)
        tables.add("sensor", {"token": tokens[channel], "channel": channel, "modality": modality})
    return tokens


def _calibrations(tables, tokens, cameras, scene_index):
    """One calibrated_sensor record per sensor for a scene; returns channel -> token."""
    calib = {}
    for cam in cameras:
        calib[cam.channel] = tables.token("calibrated_sensor", scene_index, cam.channel)
        tables.add("calibrated_sensor", {
            "token": calib[cam.channel],
            "sensor_token": tokens[cam.channel],
            "translation": [float(x) for x in cam.translation],
            "rotation": [float(x) for x in cam.quaternion.elements],
            "camera_intrinsic": cam.intrinsic.tolist(),
        })
    calib[LIDAR_CHANNEL] = tables.token("calibrated_sensor", scene_index, LIDAR_CHANNEL)
    tables.add("calibrated_sensor", {
        "token": calib[LIDAR_CHANNEL],
        "sensor_token": tokens[LIDAR_CHANNEL],
        "translation": list(_LIDAR_TRANSLATION),
        "rotation": [float(x) for x in _LIDAR_ROTATION.elements],
        "camera_intrinsic": [],
    })
    return calib


def _link(records):
    """Fill ``prev`` / ``next`` of consecutive records with each other's tokens."""
    for i, record in enumerate(records):
        record["prev"] = records[i - 1]["token"] if i > 0 else ""
        record["next"] = records[i + 1]["token"] if i + 1 < len(records) else ""


def _write_sensor_files(root, logfile, timestamp, tracks, k, ego, cameras, backgrounds, rng):
    """Render the six images and the LiDAR sweep of key frame ``k`` to disk.

    Returns ``(files, visibility, counts)``: ``files`` maps each channel to
    ``(filename, fileformat, width, height)``; ``visibility`` maps each live
    track index to its visibility token, ``counts`` to its LiDAR points.
    """
    files, visible, total = {}, {}, {}
    for cam in cameras:
        image, cam_visible, cam_total = _render_camera(tracks, k, ego, cam, backgrounds[cam.channel])
        for index in cam_total:
            visible[index] = visible.get(index, 0) + cam_visible[index]
            total[index] = total.get(index, 0) + cam_total[index]
        filename = f"samples/{cam.channel}/{logfile}__{cam.channel}__{timestamp}.jpg"
        with atomic_open(os.path.join(root, filename), "wb") as f:
            image.save(f, format="JPEG", quality=JPEG_QUALITY)
        files[cam.channel] = (filename, "jpg", image.width, image.height)
    points, counts = _lidar_sweep(rng, tracks, k, ego)
    filename = f"samples/{LIDAR_CHANNEL}/{logfile}__{LIDAR_CHANNEL}__{timestamp}.pcd.bin"
    atomic_write_bytes(os.path.join(root, filename), points.tobytes())
    files[LIDAR_CHANNEL] = (filename, "pcd", 0, 0)
    visibility = {
        index: _visibility_token(visible.get(index, 0), total.get(index, 0)) for index in counts
    }
    return files, visibility, counts


def _write_scene(tables, tokens, root, rng, scene_index, name, n_samples, cameras, image_size,
                 layout):
    """Plan, render and record one scene; returns its number of annotations."""
    location, vehicle, utc = LOCATIONS[int(rng.integers(len(LOCATIONS)))]
    logfile = f"{vehicle}-2018-08-01-{10 + scene_index:02d}-00-00{utc}"
    log_token = tables.add("log", {
        "token": tables.token("log", scene_index), "logfile": logfile, "vehicle": vehicle,
        "date_captured": "2018-08-01", "location": location,
    })["token"]
    calib = _calibrations(tables, tokens, cameras, scene_index)
    ego, tracks = _plan_scene(rng, n_samples, cameras, image_size, **layout)
    backgrounds = {cam.channel: _background(cam, image_size) for cam in cameras}

    scene_token = tables.token("scene", scene_index)
    base_time = 1_533_110_400_000_000 + scene_index * 3_600_000_000
    samples, annotations = [], {}
    sample_data = {channel: [] for channel in CAMERA_CHANNELS + (LIDAR_CHANNEL,)}
    for k in range(n_samples):
        timestamp = base_time + k * SAMPLE_PERIOD_US
        sample = tables.add("sample", {"token": tables.token("sample", scene_index, k),
                                       "timestamp": timestamp, "scene_token": scene_token})
        samples.append(sample)
        files, visibility, counts = _write_sensor_files(
            root, logfile, timestamp, tracks, k, ego, cameras, backgrounds, rng
        )
        for channel, (filename, fileformat, width, height) in files.items():
            pose_token = tables.token("ego_pose", scene_index, k, channel)
            tables.add("ego_pose", {"token": pose_token, "timestamp": timestamp,
                                    "rotation": _yaw_quaternion(ego.yaw),
                                    "translation": [float(x) for x in ego.translation(k)]})
            sample_data[channel].append(tables.add("sample_data", {
                "token": tables.token("sample_data", scene_index, k, channel),
                "sample_token": sample["token"], "ego_pose_token": pose_token,
                "calibrated_sensor_token": calib[channel], "timestamp": timestamp,
                "fileformat": fileformat, "is_key_frame": True, "height": height, "width": width,
                "filename": filename,
            }))
        for index in counts:
            track = tracks[index]
            annotations.setdefault(index, []).append(tables.add("sample_annotation", {
                "token": tables.token("sample_annotation", scene_index, index, k),
                "sample_token": sample["token"],
                "instance_token": tables.token("instance", scene_index, index),
                "visibility_token": visibility[index],
                "attribute_tokens": [tokens[track.attribute]] if track.attribute else [],
                "translation": [float(x) for x in track.centre(k)],
                "size": [float(x) for x in track.size],
                "rotation": _yaw_quaternion(track.yaw),
                "num_lidar_pts": counts[index],
                "num_radar_pts": 0,
            }))
    _link(samples)
    for records in sample_data.values():
        _link(records)
    for index, records in sorted(annotations.items()):
        _link(records)
        tables.add("instance", {
            "token": tables.token("instance", scene_index, index),
            "category_token": tokens[tracks[index].spec.category],
            "nbr_annotations": len(records),
            "first_annotation_token": records[0]["token"],
            "last_annotation_token": records[-1]["token"],
        })
    tables.add("scene", {
        "token": scene_token, "log_token": log_token, "nbr_samples": n_samples,
        "first_sample_token": samples[0]["token"], "last_sample_token": samples[-1]["token"],
        "name": name, "description": f"Synthetic scene {scene_index} ({location}).",
    })
    return sum(len(records) for records in annotations.values())


def _write_maps(tables, root):
    """One small semantic-prior PNG per location, listing the logs recorded there."""
    for location, _, _ in LOCATIONS:
        token = tables.token("map", location)
        filename = f"maps/{token}.png"
        mask = np.zeros((64, 64), dtype=np.uint8)
        mask[24:40, :] = 255
        with atomic_open(os.path.join(root, filename), "wb") as f:
            Image.fromarray(mask).save(f, format="PNG")
        logs = [log["token"] for log in tables.rows["log"] if log["location"] == location]
        tables.add("map", {"token": token, "log_tokens": logs, "category": "semantic_prior",
                           "filename": filename})


def _prepare_root(root, options):
    """Make ``root`` ready: clear a previous synthetic set (and what was made from it, e.g. its
    info files), refuse to touch a real one (``completion.begin``). Its folders are made as
    its files are written (``atomic_open``), never through a link."""
    completion.begin(root, MARKER_FILE, options, f"{VERSION} dataset")


def write_synthetic_nuscenes(
    root, train_scenes=2, val_scenes=1, samples_per_scene=3, seed=0, image_size=(1600, 900),
    objects_per_sample=OBJECTS_PER_SAMPLE, far_bias=0.0,
):
    """Write a synthetic nuScenes ``v1.0-mini`` dataset under ``root``.

    Args:
        root: dataset root (created if needed). A previous synthetic set there is
            replaced; a real nuScenes set (no marker file) is never touched.
        train_scenes: number of scenes named from ``mini_train`` (0..8).
        val_scenes: number of scenes named from ``mini_val`` (0..2).
        samples_per_scene: key frames per scene (>= 2), 0.5 s apart.
        seed: fixes every byte of the output.
        image_size: ``(W, H)`` of the camera images; intrinsics are scaled with
            it. Keep 1600 x 900 for mmdet3d, whose converter assumes it (it clips
            the 2-D boxes to 1600 x 900; a smaller image keeps them unclipped).
        objects_per_sample: ``(lo, hi)``: new objects appear while fewer than a random
            number in ``lo..hi`` are alive (at least the 10 classes at a scene's start).
        far_bias: object distances have density ``d ** far_bias`` in each class's range:
            0 uniform in distance, 1 uniform per unit of ground area (more far away).
            Both are recorded in the completion options only when not the defaults, so
            sets made before these options existed still count as complete.

    Returns:
        ``{'version', 'root', 'train': {...}, 'val': {...}}`` where each split
        holds its numbers of ``scenes``, ``samples`` and ``annotations``.
    """
    if not 0 <= train_scenes <= len(MINI_TRAIN_SCENES):
        raise ValueError(f"train_scenes must be in 0..{len(MINI_TRAIN_SCENES)} "
                         f"(the scene names of nuscenes.utils.splits.mini_train), got {train_scenes}")
    if not 0 <= val_scenes <= len(MINI_VAL_SCENES):
        raise ValueError(f"val_scenes must be in 0..{len(MINI_VAL_SCENES)} "
                         f"(the scene names of nuscenes.utils.splits.mini_val), got {val_scenes}")
    if train_scenes + val_scenes == 0:
        raise ValueError("at least one scene is needed")
    if samples_per_scene < 2:
        raise ValueError(f"samples_per_scene must be >= 2 (velocities need two key frames), "
                         f"got {samples_per_scene}")
    image_size = (int(image_size[0]), int(image_size[1]))
    if image_size[0] < MIN_IMAGE_SIZE[0] or image_size[1] < MIN_IMAGE_SIZE[1]:
        raise ValueError(f"image_size {image_size[0]} x {image_size[1]} is too small: the smallest "
                         f"that places every class in view is {MIN_IMAGE_SIZE[0]} x "
                         f"{MIN_IMAGE_SIZE[1]} (W x H)")
    root = os.fspath(root)
    lo, hi = (int(n) for n in objects_per_sample)
    if not 0 <= lo <= hi:
        raise ValueError(f"objects_per_sample must be (lo, hi) with 0 <= lo <= hi, got {objects_per_sample}")
    far_bias = float(far_bias)
    if not 0.0 <= far_bias <= 4.0:
        raise ValueError(f"far_bias must be in [0, 4], got {far_bias}")
    options = {"train_scenes": train_scenes, "val_scenes": val_scenes,
               "samples_per_scene": samples_per_scene, "seed": seed, "image_size": list(image_size)}
    layout = {"objects_per_sample": (lo, hi), "far_bias": far_bias}
    if (lo, hi) != tuple(OBJECTS_PER_SAMPLE):
        options["objects_per_sample"] = [lo, hi]
    if far_bias != 0.0:
        options["far_bias"] = far_bias
    _prepare_root(root, options)

    rng = np.random.default_rng(seed)
    tables = _Tables(seed)
    cameras = _make_cameras(image_size)
    tokens = _static_tables(tables, cameras)
    names = [("train", n) for n in MINI_TRAIN_SCENES[:train_scenes]]
    names += [("val", n) for n in MINI_VAL_SCENES[:val_scenes]]
    summary = {"version": VERSION, "root": root}
    for split in ("train", "val"):
        summary[split] = {"scenes": 0, "samples": 0, "annotations": 0}
    for scene_index, (split, name) in enumerate(names):
        n_ann = _write_scene(tables, tokens, root, rng, scene_index, name, samples_per_scene,
                             cameras, image_size, layout)
        summary[split]["scenes"] += 1
        summary[split]["samples"] += samples_per_scene
        summary[split]["annotations"] += n_ann
    _write_maps(tables, root)
    tables.write(os.path.join(root, VERSION))
    completion.finish(root, options)
    return summary
