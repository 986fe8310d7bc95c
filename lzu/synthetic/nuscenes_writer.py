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
"""

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from pyquaternion import Quaternion

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

VERSION = "v1.0-mini"
MINI_TRAIN_SCENES = (
    "scene-0061",
    "scene-0553",
    "scene-0655",
    "scene-0757",
    "scene-0796",
    "scene-1077",
    "scene-1094",
    "scene-1100",
)
MINI_VAL_SCENES = ("scene-0103", "scene-0916")

CAMERA_CHANNELS = (
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_FRONT_LEFT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_BACK_RIGHT",
)
LIDAR_CHANNEL = "LIDAR_TOP"

SAMPLE_PERIOD_US = 500_000
SAMPLE_PERIOD_S = SAMPLE_PERIOD_US * 1e-6
NOMINAL_IMAGE_SIZE = (1600, 900)
JPEG_QUALITY = 90
MARKER_FILE = ".lzu_synthetic_nuscenes"

SKY_COLOUR = (150, 190, 235)
ROAD_COLOUR = (105, 105, 105)
FRONT_SHADE = 0.55  # the heading face is drawn in colour * FRONT_SHADE

MAX_TRACK_SAMPLES = 8  # longest life of an instance, in key frames
OBJECTS_PER_SAMPLE = (6, 12)
NEAR_PLANE = 0.5  # metres; box faces are clipped to z >= NEAR_PLANE before projection
CENTRE_MARGIN_PX = 20  # a centre this far inside an image counts as seen
OCCLUSION_SCALE = 4  # visibility is measured on an image this many times smaller
CLEARANCE = 0.5  # metres between the bounding circles of two boxes


@dataclass(frozen=True)
class _ClassSpec:
    """One nuScenes category standing for one of the 10 detection classes.

    ``size`` is the mean ``(w, l, h)`` in metres, ``distance`` the range (m,
    from the ego) an object of this class stays in, ``moving`` the attribute
    that makes it move with a speed drawn from ``speed`` (m/s), ``heading``
    how its yaw relates to the road ("road", "free" or "barrier").
    """

    detection_name: str
    category: str
    description: str
    size: tuple
    attributes: tuple
    moving: str | None
    speed: tuple
    distance: tuple
    heading: str
    colour: tuple
    weight: float


_VEHICLE_ATTRIBUTES = ("vehicle.moving", "vehicle.parked", "vehicle.stopped")
_CYCLE_ATTRIBUTES = ("cycle.with_rider", "cycle.without_rider")
_PEDESTRIAN_ATTRIBUTES = ("pedestrian.moving", "pedestrian.standing", "pedestrian.sitting_lying_down")

CLASSES = (
    _ClassSpec("car", "vehicle.car", "Passenger car.", (1.95, 4.62, 1.73),
               _VEHICLE_ATTRIBUTES, "vehicle.moving", (3.0, 10.0), (8.0, 45.0), "road",
               (220, 30, 30), 0.35),
    _ClassSpec("truck", "vehicle.truck", "Truck or pick-up.", (2.51, 6.93, 2.84),
               _VEHICLE_ATTRIBUTES, "vehicle.moving", (3.0, 8.0), (8.0, 45.0), "road",
               (245, 130, 0), 0.07),
    _ClassSpec("trailer", "vehicle.trailer", "Trailer pulled by a vehicle.", (2.90, 12.29, 3.87),
               _VEHICLE_ATTRIBUTES, "vehicle.moving", (2.0, 6.0), (8.0, 45.0), "road",
               (120, 60, 20), 0.03),
    _ClassSpec("bus", "vehicle.bus.rigid", "Rigid bus.", (2.95, 11.19, 3.49),
               _VEHICLE_ATTRIBUTES, "vehicle.moving", (2.0, 7.0), (8.0, 45.0), "road",
               (235, 210, 0), 0.03),
    _ClassSpec("construction_vehicle", "vehicle.construction", "Construction vehicle.",
               (2.85, 6.37, 3.19), _VEHICLE_ATTRIBUTES, "vehicle.moving", (0.5, 2.0),
               (8.0, 45.0), "road", (200, 0, 200), 0.03),
    _ClassSpec("bicycle", "vehicle.bicycle", "Bicycle.", (0.60, 1.70, 1.28),
               _CYCLE_ATTRIBUTES, "cycle.with_rider", (1.5, 5.0), (8.0, 35.0), "road",
               (0, 170, 60), 0.06),
    _ClassSpec("motorcycle", "vehicle.motorcycle", "Motorcycle or scooter.", (0.77, 2.11, 1.47),
               _CYCLE_ATTRIBUTES, "cycle.with_rider", (2.0, 8.0), (8.0, 35.0), "road",
               (0, 190, 190), 0.05),
    _ClassSpec("pedestrian", "human.pedestrian.adult", "Adult pedestrian.", (0.67, 0.73, 1.77),
               _PEDESTRIAN_ATTRIBUTES, "pedestrian.moving", (0.8, 1.8), (8.0, 35.0), "free",
               (20, 40, 220), 0.20),
    _ClassSpec("traffic_cone", "movable_object.trafficcone", "Traffic cone.", (0.41, 0.41, 1.07),
               (), None, (0.0, 0.0), (6.0, 25.0), "free", (255, 110, 180), 0.08),
    _ClassSpec("barrier", "movable_object.barrier", "Temporary road barrier.", (2.53, 0.50, 0.98),
               (), None, (0.0, 0.0), (6.0, 25.0), "barrier", (150, 230, 0), 0.10),
)
CLASS_COLOURS = {spec.detection_name: spec.colour for spec in CLASSES}

ATTRIBUTES = (
    ("vehicle.moving", "Vehicle is moving."),
    ("vehicle.parked", "Vehicle is parked."),
    ("vehicle.stopped", "Vehicle is stopped, e.g. at a red light."),
    ("cycle.with_rider", "There is someone on the bicycle or motorcycle."),
    ("cycle.without_rider", "There is nobody on the bicycle or motorcycle."),
    ("pedestrian.moving", "The human is moving."),
    ("pedestrian.standing", "The human is standing."),
    ("pedestrian.sitting_lying_down", "The human is sitting or lying down."),
)

VISIBILITY_LEVELS = (  # (token, level, upper bound of the visible fraction)
    ("1", "v0-40", 0.4),
    ("2", "v40-60", 0.6),
    ("3", "v60-80", 0.8),
    ("4", "v80-100", math.inf),
)

LOCATIONS = (  # (location, vehicle, UTC offset of the log names)
    ("singapore-onenorth", "n015", "+0800"),
    ("boston-seaport", "n008", "-0400"),
)

_FRONT_ROTATION = Quaternion(0.49980, -0.50303, 0.49978, -0.49737).normalised
_FRONT_INTRINSIC = (1266.417, 816.267, 491.507)  # f, cx, cy at 1600 x 900
_BACK_INTRINSIC = (809.221, 829.219, 481.771)
_CAMERA_LAYOUT = (  # channel, yaw about ego z (deg), translation (m), (f, cx, cy)
    ("CAM_FRONT", 0.0, (1.7008, 0.0159, 1.5110), _FRONT_INTRINSIC),
    ("CAM_FRONT_RIGHT", -55.0, (1.5508, -0.4934, 1.4957), _FRONT_INTRINSIC),
    ("CAM_FRONT_LEFT", 55.0, (1.5239, 0.4946, 1.5095), _FRONT_INTRINSIC),
    ("CAM_BACK", 180.0, (0.0283, 0.0034, 1.5791), _BACK_INTRINSIC),
    ("CAM_BACK_LEFT", 110.0, (1.0357, 0.4846, 1.5910), _FRONT_INTRINSIC),
    ("CAM_BACK_RIGHT", -110.0, (1.0149, -0.4806, 1.5620), _FRONT_INTRINSIC),
)
_CAMERA_WEIGHTS = (0.5, 0.1, 0.1, 0.1, 0.1, 0.1)  # where objects are placed
_LIDAR_TRANSLATION = (0.943713, 0.0, 1.84023)
_LIDAR_ROTATION = Quaternion(axis=(0.0, 0.0, 1.0), angle=-math.pi / 2)

# Box corners in units of (l, w, h); the first four form the front face (+x).
_UNIT_CORNERS = 0.5 * np.array(
    [
        [1, 1, 1], [1, -1, 1], [1, -1, -1], [1, 1, -1],
        [-1, 1, 1], [-1, -1, 1], [-1, -1, -1], [-1, 1, -1],
    ],
    dtype=np.float64,
)
_FACES = ((0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (3, 2, 6, 7), (0, 3, 7, 4), (1, 2, 6, 5))


# ----------------------------------------------------------------------------- geometry


def _yaw_matrix(yaw):
    """Rotation about z by ``yaw`` radians, ``(3, 3)``."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _yaw_quaternion(yaw):
    """Rotation about z by ``yaw`` radians as a ``(w, x, y, z)`` list."""
    return [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]


@dataclass(frozen=True)
class _Camera:
    """A calibrated camera: sensor -> ego ``rotation`` (3, 3) and ``translation`` (3,)."""

    channel: str
    quaternion: Quaternion
    translation: np.ndarray
    intrinsic: np.ndarray

    @property
    def rotation(self):
        return self.quaternion.rotation_matrix

    @property
    def yaw(self):
        """Heading of the optical axis in the ego frame, radians."""
        axis = self.rotation[:, 2]
        return math.atan2(axis[1], axis[0])

    def half_fov(self, width):
        """Half the horizontal field of view, radians."""
        return math.atan(0.5 * width / self.intrinsic[0, 0])


def _make_cameras(image_size):
    """The six cameras: CAM_FRONT's real calibration, the others yawed copies of it.

    Intrinsics are nuScenes' at 1600 x 900, scaled to ``image_size`` ``(W, H)``.
    """
    sx = image_size[0] / NOMINAL_IMAGE_SIZE[0]
    sy = image_size[1] / NOMINAL_IMAGE_SIZE[1]
    cameras = []
    for channel, yaw_deg, translation, (f, cx, cy) in _CAMERA_LAYOUT:
        yaw = Quaternion(axis=(0.0, 0.0, 1.0), angle=math.radians(yaw_deg))
        intrinsic = np.array([[f * sx, 0.0, cx * sx], [0.0, f * sy, cy * sy], [0.0, 0.0, 1.0]])
        cameras.append(_Camera(channel, yaw * _FRONT_ROTATION, np.array(translation), intrinsic))
    return tuple(cameras)


@dataclass(frozen=True)
class _EgoPath:
    """The ego's poses at the key frames of a scene: straight, constant speed.

    ``xy``: ``(n, 2)`` global positions; ``yaw``: heading in radians.
    """

    xy: np.ndarray
    yaw: float

    @property
    def rotation(self):
        return _yaw_matrix(self.yaw)

    def translation(self, k):
        """Global position of key frame ``k``, ``(3,)`` (z = 0: the ego is on the ground)."""
        return np.array([self.xy[k, 0], self.xy[k, 1], 0.0])


def _world_to_ego(points, ego, k):
    """Global points ``(N, 3)`` -> ego frame of key frame ``k``."""
    return (points - ego.translation(k)) @ ego.rotation


def _ego_to_sensor(points, rotation, translation):
    """Ego points ``(N, 3)`` -> sensor frame, for a sensor -> ego ``rotation`` / ``translation``."""
    return (points - translation) @ rotation


def _project(points_cam, intrinsic):
    """Camera points ``(N, 3)`` with z > 0 -> pixels ``(N, 2)``."""
    uvw = points_cam @ intrinsic.T
    return uvw[:, :2] / uvw[:, 2:3]


def _clip_near(polygon, near=NEAR_PLANE):
    """Clip a planar 3-D polygon ``(K, 3)`` (camera frame) to ``z >= near`` (Sutherland-Hodgman)."""
    out = []
    for i in range(len(polygon)):
        a, b = polygon[i - 1], polygon[i]
        a_in, b_in = a[2] >= near, b[2] >= near
        if a_in != b_in:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
        if b_in:
            out.append(b)
    return np.array(out).reshape(-1, 3)


def _convex_hull(points):
    """Convex hull of ``(N, 2)`` points (Andrew's monotone chain), counter-clockwise ``(M, 2)``."""
    pts = sorted(set(map(tuple, np.round(points, 6))))
    if len(pts) < 3:
        return np.array(pts).reshape(-1, 2)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(seq):
        chain = []
        for p in seq:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain[:-1]

    return np.array(half(pts) + half(reversed(pts)))


# ----------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class _Track:
    """One object (a nuScenes instance) alive from key frame ``start`` to ``stop`` inclusive.

    ``origin``: global xy ``(2,)`` at ``start``; ``velocity``: ``(2,)`` m/s,
    constant; ``size``: ``(w, l, h)``; ``yaw``: heading, radians. The box sits
    on the ground: its centre is at z = h / 2.
    """

    spec: _ClassSpec
    attribute: str | None
    size: np.ndarray
    yaw: float
    start: int
    stop: int
    origin: np.ndarray
    velocity: np.ndarray

    def alive(self, k):
        return self.start <= k <= self.stop

    def centre(self, k):
        """Global box centre at key frame ``k``, ``(3,)``."""
        xy = self.origin + self.velocity * (k - self.start) * SAMPLE_PERIOD_S
        return np.array([xy[0], xy[1], 0.5 * self.size[2]])

    @property
    def radius(self):
        """Radius of the box's bird's-eye-view bounding circle."""
        return 0.5 * math.hypot(self.size[0], self.size[1])

    def corners(self, k):
        """Global corners ``(8, 3)``; rows 0-3 are the front (heading) face."""
        w, length, h = self.size
        local = _UNIT_CORNERS * np.array([length, w, h])
        return local @ _yaw_matrix(self.yaw).T + self.centre(k)

    def contains(self, points, k):
        """Boolean mask ``(N,)``: which global points ``(N, 3)`` lie in the box at ``k``."""
        w, length, h = self.size
        local = (points - self.centre(k)) @ _yaw_matrix(self.yaw)
        half = 0.5 * np.array([length, w, h])
        return np.all(np.abs(local) <= half, axis=1)


def _centre_seen(centre, ego, k, cameras, image_size):
    """Whether a global point projects inside some camera image (with a margin), in front of it."""
    p_ego = _world_to_ego(centre[None], ego, k)
    for cam in cameras:
        p_cam = _ego_to_sensor(p_ego, cam.rotation, cam.translation)
        if p_cam[0, 2] < 1.0:
            continue
        u, v = _project(p_cam, cam.intrinsic)[0]
        m = CENTRE_MARGIN_PX
        if m <= u <= image_size[0] - m and m <= v <= image_size[1] - m:
            return True
    return False


def _track_is_valid(track, ego, cameras, image_size, others):
    """A track must stay in its class's range, in view, and clear of live ``others``."""
    lo, hi = track.spec.distance
    for k in range(track.start, track.stop + 1):
        centre = track.centre(k)
        dist = float(np.hypot(*(centre[:2] - ego.xy[k])))
        if not lo <= dist <= hi:
            return False
        if not _centre_seen(centre, ego, k, cameras, image_size):
            return False
        for other in others:
            if other.alive(k):
                gap = float(np.hypot(*(centre[:2] - other.centre(k)[:2])))
                if gap < track.radius + other.radius + CLEARANCE:
                    return False
    return True


def _draw_yaw(rng, spec, road_yaw, attribute):
    """Heading of a new object: along the road (either way), free, or a barrier's."""
    if spec.heading == "free":
        return float(rng.uniform(-math.pi, math.pi))
    if spec.heading == "barrier":
        return road_yaw + float(rng.choice([0.0, math.pi / 2]) + rng.normal(0.0, 0.05))
    yaw = road_yaw + float(rng.choice([0.0, math.pi]) + rng.normal(0.0, 0.08))
    if attribute == "vehicle.parked" and rng.random() < 0.2:
        yaw += math.pi / 2
    return yaw


def _propose_track(rng, spec, start, stop, ego, cameras, image_size, static):
    """Draw a candidate object of class ``spec`` near a (mostly frontal) camera's axis."""
    cam = cameras[rng.choice(len(cameras), p=_CAMERA_WEIGHTS)]
    azimuth = cam.yaw + rng.uniform(-0.8, 0.8) * cam.half_fov(image_size[0])
    dist = rng.uniform(*spec.distance)
    offset = ego.rotation[:2, :2] @ (dist * np.array([math.cos(azimuth), math.sin(azimuth)]))
    attribute = str(rng.choice(spec.attributes)) if spec.attributes else None
    if static and attribute == spec.moving:
        attribute = spec.attributes[1]
    yaw = _draw_yaw(rng, spec, ego.yaw, attribute)
    speed = rng.uniform(*spec.speed) if attribute == spec.moving else 0.0
    return _Track(
        spec=spec,
        attribute=attribute,
        size=np.array(spec.size) * rng.uniform(0.9, 1.1, size=3),
        yaw=yaw,
        start=start,
        stop=stop,
        origin=ego.xy[start] + offset,
        velocity=speed * np.array([math.cos(yaw), math.sin(yaw)]),
    )


def _plan_scene(rng, n_samples, cameras, image_size):
    """Ego path and objects of one scene.

    Every scene shows all 10 classes at its first key frame; afterwards new
    objects appear whenever fewer than a random 6-12 are alive. A new object
    lives 2..``MAX_TRACK_SAMPLES`` key frames; after 30 failed placements it
    is made static and short-lived, which always fits eventually.

    Returns ``(ego, tracks)``.
    """
    start_xy = rng.uniform((300.0, 600.0), (1500.0, 1800.0))
    ego_yaw = float(rng.uniform(-math.pi, math.pi))
    step = rng.uniform(0.0, 3.0) * SAMPLE_PERIOD_S * np.array([math.cos(ego_yaw), math.sin(ego_yaw)])
    ego = _EgoPath(xy=start_xy + np.arange(n_samples)[:, None] * step, yaw=ego_yaw)

    weights = np.array([spec.weight for spec in CLASSES])
    pending = [CLASSES[i] for i in rng.permutation(len(CLASSES))]
    tracks = []
    for k in range(n_samples):
        target = int(rng.integers(OBJECTS_PER_SAMPLE[0], OBJECTS_PER_SAMPLE[1] + 1))
        if k == 0:
            target = max(target, len(CLASSES))
        start = min(k, n_samples - 2)
        for _ in range(100):
            if sum(t.alive(k) for t in tracks) >= target:
                break
            spec = pending[0] if pending else CLASSES[rng.choice(len(CLASSES), p=weights / weights.sum())]
            for trial in range(60):
                static = trial >= 30
                longest = min(n_samples - start, MAX_TRACK_SAMPLES)
                life = 2 if static else int(rng.integers(2, longest + 1))
                track = _propose_track(rng, spec, start, start + life - 1, ego, cameras, image_size, static)
                if _track_is_valid(track, ego, cameras, image_size, tracks):
                    tracks.append(track)
                    if pending and spec is pending[0]:
                        pending.pop(0)
                    break
    if pending:
        raise RuntimeError(f"could not place {[s.detection_name for s in pending]} in a scene")
    return ego, tracks


# ----------------------------------------------------------------------------- rendering


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


# ----------------------------------------------------------------------------- tables


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
        os.makedirs(table_root, exist_ok=True)
        for name in self.NAMES:
            with open(os.path.join(table_root, f"{name}.json"), "w") as f:
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
        image.save(os.path.join(root, filename), quality=JPEG_QUALITY)
        files[cam.channel] = (filename, "jpg", image.width, image.height)
    points, counts = _lidar_sweep(rng, tracks, k, ego)
    filename = f"samples/{LIDAR_CHANNEL}/{logfile}__{LIDAR_CHANNEL}__{timestamp}.pcd.bin"
    points.tofile(os.path.join(root, filename))
    files[LIDAR_CHANNEL] = (filename, "pcd", 0, 0)
    visibility = {
        index: _visibility_token(visible.get(index, 0), total.get(index, 0)) for index in counts
    }
    return files, visibility, counts


def _write_scene(tables, tokens, root, rng, scene_index, name, n_samples, cameras, image_size):
    """Plan, render and record one scene; returns its number of annotations."""
    location, vehicle, utc = LOCATIONS[int(rng.integers(len(LOCATIONS)))]
    logfile = f"{vehicle}-2018-08-01-{10 + scene_index:02d}-00-00{utc}"
    log_token = tables.add("log", {
        "token": tables.token("log", scene_index), "logfile": logfile, "vehicle": vehicle,
        "date_captured": "2018-08-01", "location": location,
    })["token"]
    calib = _calibrations(tables, tokens, cameras, scene_index)
    ego, tracks = _plan_scene(rng, n_samples, cameras, image_size)
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
    os.makedirs(os.path.join(root, "maps"), exist_ok=True)
    for location, _, _ in LOCATIONS:
        token = tables.token("map", location)
        filename = f"maps/{token}.png"
        mask = np.zeros((64, 64), dtype=np.uint8)
        mask[24:40, :] = 255
        Image.fromarray(mask).save(os.path.join(root, filename))
        logs = [log["token"] for log in tables.rows["log"] if log["location"] == location]
        tables.add("map", {"token": token, "log_tokens": logs, "category": "semantic_prior",
                           "filename": filename})


def _prepare_root(root, options):
    """Make ``root`` ready: clear a previous synthetic set, refuse to touch a real one."""
    marker = os.path.join(root, MARKER_FILE)
    if os.path.exists(os.path.join(root, VERSION)) and not os.path.exists(marker):
        raise FileExistsError(
            f"{root} holds a {VERSION} dataset that this generator did not write; refusing to overwrite it"
        )
    if os.path.exists(marker):
        for sub in (VERSION, "samples", "maps"):
            shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
    for channel in CAMERA_CHANNELS + (LIDAR_CHANNEL,):
        os.makedirs(os.path.join(root, "samples", channel), exist_ok=True)
    with open(marker, "w") as f:
        json.dump(options, f, sort_keys=True)
        f.write("\n")


def write_synthetic_nuscenes(
    root, train_scenes=2, val_scenes=1, samples_per_scene=3, seed=0, image_size=(1600, 900)
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
            it. Keep 1600 x 900 for mmdet3d, whose converter assumes it.

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
    root = os.fspath(root)
    options = {"train_scenes": train_scenes, "val_scenes": val_scenes,
               "samples_per_scene": samples_per_scene, "seed": seed, "image_size": list(image_size)}
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
                             cameras, image_size)
        summary[split]["scenes"] += 1
        summary[split]["samples"] += samples_per_scene
        summary[split]["annotations"] += n_ann
    _write_maps(tables, root)
    tables.write(os.path.join(root, VERSION))
    return summary
