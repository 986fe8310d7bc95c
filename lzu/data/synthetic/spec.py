"""What the synthetic nuScenes set is made of: the data that defines the dataset.

Scene names, sensor channels, timing, colours, the 10 detection classes with
their categories, sizes, speeds and ranges, the attribute, visibility and
location tables, and the nominal camera and LiDAR calibration.
"""

import math
from dataclasses import dataclass

from pyquaternion import Quaternion

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
# smallest camera image (W, H): below it the 20-pixel margin leaves too little of the image to
# place every class in view at the first key frame (48 x 48 is the least that places them)
MIN_IMAGE_SIZE = (64, 64)
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
