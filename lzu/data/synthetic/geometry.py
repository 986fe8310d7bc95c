"""Geometry of the synthetic scenes: frames, projection, the camera model and the ego path.

Frames follow nuScenes: global and ego are right-handed with z up (ego x
forward, y left); cameras look along their z axis (x right, y down).
"""

import math
from dataclasses import dataclass

import numpy as np
from pyquaternion import Quaternion

from lzu.data.synthetic.spec import _CAMERA_LAYOUT, _FRONT_ROTATION, NEAR_PLANE, NOMINAL_IMAGE_SIZE

# Box corners in units of (l, w, h); the first four form the front face (+x).
_UNIT_CORNERS = 0.5 * np.array(
    [
        [1, 1, 1], [1, -1, 1], [1, -1, -1], [1, 1, -1],
        [-1, 1, 1], [-1, -1, 1], [-1, -1, -1], [-1, 1, -1],
    ],
    dtype=np.float64,
)
_FACES = ((0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (3, 2, 6, 7), (0, 3, 7, 4), (1, 2, 6, 5))


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
