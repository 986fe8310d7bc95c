"""Scene planning: object tracks and where, how and when they are placed.

A scene is an ego path plus a list of tracks (one per nuScenes instance),
drawn so that every object stays in its class's range, in some camera's view
and clear of the others at every key frame it lives.
"""

import math
from dataclasses import dataclass

import numpy as np

from lzu.data.synthetic.geometry import (
    _UNIT_CORNERS,
    _ego_to_sensor,
    _EgoPath,
    _project,
    _world_to_ego,
    _yaw_matrix,
)
from lzu.data.synthetic.spec import (
    _CAMERA_WEIGHTS,
    CENTRE_MARGIN_PX,
    CLASSES,
    CLEARANCE,
    MAX_TRACK_SAMPLES,
    OBJECTS_PER_SAMPLE,
    SAMPLE_PERIOD_S,
    _ClassSpec,
)


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


def _draw_distance(rng, spec, far_bias):
    """Distance (m) of a new object in its class's range, density proportional to ``d ** far_bias``.

    ``far_bias`` 0 is uniform in distance (the default set); 1 is uniform per unit of ground
    area (objects spread evenly over the road, so more of them far away). One uniform draw
    either way (inverse CDF), so the default keeps its random stream.
    """
    lo, hi = spec.distance
    if far_bias == 0:
        return rng.uniform(lo, hi)
    p = far_bias + 1.0
    return float((lo**p + rng.uniform() * (hi**p - lo**p)) ** (1.0 / p))


def _propose_track(rng, spec, start, stop, ego, cameras, image_size, static, far_bias=0.0):
    """Draw a candidate object of class ``spec`` near a (mostly frontal) camera's axis."""
    cam = cameras[rng.choice(len(cameras), p=_CAMERA_WEIGHTS)]
    azimuth = cam.yaw + rng.uniform(-0.8, 0.8) * cam.half_fov(image_size[0])
    dist = _draw_distance(rng, spec, far_bias)
    offset = ego.rotation[:2, :2] @ (dist * np.array([math.cos(azimuth), math.sin(azimuth)]))
    attribute = str(rng.choice(spec.attributes)) if spec.attributes else None
    if static and attribute is not None and attribute == spec.moving:
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


def _plan_scene(rng, n_samples, cameras, image_size, objects_per_sample=OBJECTS_PER_SAMPLE,
                far_bias=0.0):
    """Ego path and objects of one scene.

    Every scene shows all 10 classes at its first key frame; afterwards new
    objects appear whenever fewer than a random ``objects_per_sample`` (lo, hi;
    default 6-12) are alive; distances follow ``_draw_distance(far_bias)``. A new object
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
        target = int(rng.integers(objects_per_sample[0], objects_per_sample[1] + 1))
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
                track = _propose_track(rng, spec, start, start + life - 1, ego, cameras, image_size,
                                       static, far_bias)
                if _track_is_valid(track, ego, cameras, image_size, tracks):
                    tracks.append(track)
                    if pending and spec is pending[0]:
                        pending.pop(0)
                    break
    if pending:
        raise RuntimeError(f"could not place {[s.detection_name for s in pending]} in a scene")
    return ego, tracks
