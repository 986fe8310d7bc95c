"""Sensor rendering of a planned scene: camera images, visibility and LiDAR sweeps.

Cameras draw flat-shaded box silhouettes over a sky/road background, far to
near, and measure how much of each box stays visible; the LiDAR sweep samples
ground points plus points inside every live box.
"""

import math

import numpy as np
from PIL import Image, ImageDraw

from lzu.data.synthetic.geometry import (
    _FACES,
    _clip_near,
    _convex_hull,
    _ego_to_sensor,
    _project,
    _world_to_ego,
    _yaw_matrix,
)
from lzu.data.synthetic.spec import (
    _LIDAR_ROTATION,
    _LIDAR_TRANSLATION,
    FRONT_SHADE,
    OCCLUSION_SCALE,
    ROAD_COLOUR,
    SKY_COLOUR,
    VISIBILITY_LEVELS,
)


def _background(camera, image_size):
    """Sky above the camera's horizon (the ground plane's vanishing line), road below."""
    w, h = image_size
    dirs = [camera.yaw - 0.4, camera.yaw + 0.4]
    ego_dirs = np.array([[math.cos(a), math.sin(a), 0.0] for a in dirs])
    (u0, v0), (u1, v1) = _project(ego_dirs @ camera.rotation, camera.intrinsic)
    slope = (v1 - v0) / (u1 - u0)
    left, right = v0 - slope * u0, v0 + slope * (w - u0)
    image = Image.new("RGB", (w, h), ROAD_COLOUR)
    ImageDraw.Draw(image).polygon([(0, 0), (w, 0), (w, right), (0, left)], fill=SKY_COLOUR)
    return image


def _silhouettes(track, k, ego, camera):
    """Pixel polygons of a box in one camera: ``(hull, front_face or None, depth)``.

    ``hull`` is the convex hull of the near-clipped box (``None`` when the box
    is entirely behind the near plane); ``front_face`` is the heading face
    when it faces the camera; ``depth`` is the distance to the box centre.
    """
    corners = _world_to_ego(track.corners(k), ego, k)
    corners = _ego_to_sensor(corners, camera.rotation, camera.translation)
    faces = [_clip_near(corners[list(face)]) for face in _FACES]
    clipped = np.concatenate(faces)
    if len(clipped) < 3:
        return None, None, 0.0
    hull = _convex_hull(_project(clipped, camera.intrinsic))
    centre = corners.mean(axis=0)
    front_centre = corners[:4].mean(axis=0)
    facing = float((front_centre - centre) @ front_centre) < 0.0  # outward normal towards the camera
    front = _project(faces[0], camera.intrinsic) if facing and len(faces[0]) >= 3 else None
    return hull, front, float(np.linalg.norm(centre))


def _polygon(points, scale=1.0):
    """Pixel points ``(K, 2)`` -> PIL polygon vertices, divided by ``scale``."""
    return [(float(x) / scale, float(y) / scale) for x, y in points]


def _render_camera(tracks, k, ego, camera, background):
    """Draw the live ``tracks`` into a copy of ``background``, far to near.

    Returns ``(image, visible, total)``: per track index, the pixels of its
    silhouette that stay visible and the pixels it would cover on its own,
    both counted on an image ``OCCLUSION_SCALE`` times smaller.
    """
    image = background.copy()
    draw = ImageDraw.Draw(image)
    w, h = image.size
    small = (max(1, w // OCCLUSION_SCALE), max(1, h // OCCLUSION_SCALE))
    ids = Image.new("I", small, 0)
    id_draw = ImageDraw.Draw(ids)
    drawn = []
    for index, track in enumerate(tracks):
        if track.alive(k):
            hull, front, depth = _silhouettes(track, k, ego, camera)
            if hull is not None and len(hull) >= 3:
                drawn.append((depth, index, hull, front))
    total = {}
    for _, index, hull, front in sorted(drawn, key=lambda item: -item[0]):
        colour = tracks[index].spec.colour
        draw.polygon(_polygon(hull), fill=colour)
        if front is not None:
            draw.polygon(_polygon(front), fill=tuple(int(c * FRONT_SHADE) for c in colour))
        id_draw.polygon(_polygon(hull, OCCLUSION_SCALE), fill=index + 1)
        alone = Image.new("L", small, 0)
        ImageDraw.Draw(alone).polygon(_polygon(hull, OCCLUSION_SCALE), fill=1)
        total[index] = int(np.count_nonzero(np.asarray(alone)))
    counts = np.bincount(np.asarray(ids).ravel(), minlength=len(tracks) + 1)
    visible = {index: int(counts[index + 1]) for index in total}
    return image, visible, total


def _visibility_token(visible, total):
    """nuScenes visibility token ('1'..'4') of a visible pixel fraction."""
    fraction = visible / total if total > 0 else 1.0
    for token, _, upper in VISIBILITY_LEVELS:
        if fraction < upper:
            return token
    return VISIBILITY_LEVELS[-1][0]


# ----------------------------------------------------------------------------- LiDAR


def _lidar_sweep(rng, tracks, k, ego):
    """A LIDAR_TOP sweep: ground points plus points inside every live box.

    Returns ``(points, counts)``: ``points`` float32 ``(N, 5)`` (x, y, z,
    intensity, ring) in the LiDAR frame, ``counts`` the number of those points
    inside each live track's box (by track index), at least 1 each.
    """
    radius = rng.uniform(3.0, 50.0, size=600)
    angle = rng.uniform(-math.pi, math.pi, size=600)
    ground = np.stack(
        [radius * np.cos(angle), radius * np.sin(angle), -rng.uniform(0.02, 0.15, size=600)], axis=1
    )
    clouds = [ground @ ego.rotation.T + ego.translation(k)]
    for track in tracks:
        if not track.alive(k):
            continue
        w, length, h = track.size
        dist = float(np.hypot(*(track.centre(k)[:2] - ego.xy[k])))
        n = int(np.clip(round(4000.0 * max(length, w) * h / dist**2), 1, 600))
        local = rng.uniform(-0.45, 0.45, size=(n, 3)) * np.array([length, w, h])
        clouds.append(local @ _yaw_matrix(track.yaw).T + track.centre(k))
    world = np.concatenate(clouds)
    lidar_r = _LIDAR_ROTATION.rotation_matrix
    lidar_t = np.array(_LIDAR_TRANSLATION)
    xyz = _ego_to_sensor(_world_to_ego(world, ego, k), lidar_r, lidar_t).astype(np.float32)
    extra = np.stack(
        [rng.uniform(0.0, 100.0, len(xyz)), rng.integers(0, 32, len(xyz)).astype(np.float64)], axis=1
    )
    points = np.concatenate([xyz, extra.astype(np.float32)], axis=1)
    stored = (xyz.astype(np.float64) @ lidar_r.T + lidar_t) @ ego.rotation.T + ego.translation(k)
    counts = {
        index: int(np.count_nonzero(track.contains(stored, k)))
        for index, track in enumerate(tracks)
        if track.alive(k)
    }
    return points, counts
