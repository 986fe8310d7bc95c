"""A synthetic street-scene set in the Cityscapes layout, read by mmseg's ``CityscapesDataset``.

    write_synthetic_cityscapes("data/cityscapes_synthetic", train_frames=40, val_frames=10)

writes::

    leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png       RGB
    gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png    uint8 train ids

with Cityscapes' 19 train ids (``TRAIN_IDS``) and 255 for ignored pixels (the
ego-vehicle strip at the bottom, as in Cityscapes). Each frame is a road in
perspective: sky, buildings and vegetation above a horizon, road and sidewalks
below it, poles with traffic signs and lights, cars, trucks, buses, persons,
riders and bicycles standing on the ground, every object's size proportional
to its distance below the horizon, so most objects are small and near the
horizon (what LZU's zoom magnifies). Pixel colours are drawn per object around a
class colour, with shading and noise, so a class is not one colour.

Frames are ``size = (H, W)`` (default 512 x 1024, half Cityscapes' 1024 x 2048).
A previous synthetic set under ``root`` is replaced, with everything made from it; a
folder this generator did not write (no marker file) is refused. The set is complete
once ``lzu.data.synthetic.completion.check_complete(root, options)`` says so (its record
is written last).
"""

import os

import cv2
import numpy as np

from lzu.data.synthetic import completion
from lzu.infra.atomic_io import atomic_write_bytes

__all__ = ["CLASSES", "IGNORE", "MARKER_FILE", "MIN_SIZE", "TRAIN_IDS", "render_frame",
           "write_synthetic_cityscapes"]

#: Cityscapes' 19 evaluated classes, in train-id order (0 .. 18)
CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
           "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
           "bus", "train", "motorcycle", "bicycle")
TRAIN_IDS = {name: i for i, name in enumerate(CLASSES)}
IGNORE = 255
MARKER_FILE = ".lzu_synthetic_cityscapes"
MIN_SIZE = 32  # the smallest frame side (H and W) the street layout is drawn at
CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt",)}

# base RGB colour of each class (drawn with per-object jitter)
_COLOURS = {
    "road": (110, 108, 112), "sidewalk": (170, 150, 160), "building": (120, 95, 80),
    "wall": (150, 140, 120), "fence": (140, 130, 100), "pole": (70, 70, 75),
    "traffic light": (40, 40, 30), "traffic sign": (230, 200, 40), "vegetation": (60, 120, 50),
    "terrain": (140, 160, 90), "sky": (150, 190, 235), "person": (180, 60, 60),
    "rider": (200, 90, 40), "car": (40, 60, 150), "truck": (90, 90, 120), "bus": (200, 180, 60),
    "motorcycle": (60, 30, 90), "bicycle": (130, 40, 90), "ego": (30, 30, 30),
}
# height of an object standing at the bottom row, as a fraction of the frame height (poles:
# of the ground's height, from the horizon down)
_HEIGHTS = {"car": 0.30, "truck": 0.55, "bus": 0.6, "person": 0.55, "rider": 0.55,
            "bicycle": 0.3, "motorcycle": 0.3, "pole": 1.6}
# width over height
_ASPECTS = {"car": 2.0, "truck": 1.6, "bus": 2.4, "person": 0.35, "rider": 0.4,
            "bicycle": 1.5, "motorcycle": 1.4}


def _colour(rng, name, spread=25):
    base = np.asarray(_COLOURS[name], dtype=np.float64)
    return tuple(int(v) for v in np.clip(base + rng.normal(0, spread, 3), 0, 255))


def _fill(image, label, pts, name, colour):
    pts = np.round(np.asarray(pts, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(label, [pts], TRAIN_IDS.get(name, IGNORE))
    cv2.fillPoly(image, [pts], colour)


def _rect(image, label, x0, y0, x1, y1, name, colour):
    _fill(image, label, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], name, colour)


class _Frame:
    """Ground geometry of one frame: horizon, vanishing point, road edges."""

    def __init__(self, rng, height, width):
        self.h, self.w = height, width
        self.horizon = height * rng.uniform(0.40, 0.47)
        self.vx = width * rng.uniform(0.42, 0.58)
        self.bottom = height * rng.uniform(0.86, 0.92)  # the ego-vehicle strip starts here
        self.road_half = width * rng.uniform(0.35, 0.55)  # road half-width at the bottom row
        self.walk = width * rng.uniform(0.12, 0.22)  # sidewalk width at the bottom row

    def depth(self, y):
        """0 at the horizon, 1 at the bottom row: the scale of things standing at row ``y``."""
        return max((y - self.horizon) / (self.h - self.horizon), 1e-3)

    def lateral(self, y, offset):
        """Column of a ground point at row ``y``, ``offset`` (bottom-row pixels) from the centre."""
        return self.vx + offset * self.depth(y)


def _background(rng, image, label, f):
    hz = int(round(f.horizon))
    _rect(image, label, 0, 0, f.w, hz, "sky", _colour(rng, "sky", 10))
    x = -rng.uniform(0, 40)
    while x < f.w:  # a skyline of buildings, with trees in the gaps
        bw = f.w * rng.uniform(0.05, 0.16)
        name = "vegetation" if rng.random() < 0.2 else "building"
        top = f.horizon - f.h * rng.uniform(0.05, 0.35) * (1.4 if abs(x - f.vx) > f.w * 0.25 else 1)
        _rect(image, label, x, top, x + bw, hz + 1, name, _colour(rng, name))
        x += bw + (f.w * rng.uniform(0.0, 0.03) if rng.random() < 0.3 else 0)
    far, near = f.h, f.bottom
    _fill(image, label, [(0, hz), (f.w, hz), (f.w, far), (0, far)], "terrain",
          _colour(rng, "terrain"))
    walk = f.road_half + f.walk
    for side in (-1, 1):
        _fill(image, label, [(f.vx, f.horizon), (f.lateral(far, side * walk), far),
                             (f.lateral(far, side * f.road_half), far)], "sidewalk",
              _colour(rng, "sidewalk", 12))
        if rng.random() < 0.5:  # a wall or fence behind the sidewalk
            name = "fence" if rng.random() < 0.5 else "wall"
            y0, y1 = f.horizon + 2, f.horizon + f.h * rng.uniform(0.08, 0.2)
            xa, xb = f.lateral(y0, side * walk * 1.1), f.lateral(y1, side * walk * 1.1)
            ha, hb = f.h * 0.12 * f.depth(y0), f.h * 0.12 * f.depth(y1)
            _fill(image, label, [(xa, y0), (xb, y1), (xb, y1 - hb), (xa, y0 - ha)],
                  name, _colour(rng, name))
    _fill(image, label, [(f.vx, f.horizon), (f.lateral(far, -f.road_half), far),
                         (f.lateral(far, f.road_half), far)], "road", _colour(rng, "road", 8))
    for y in np.linspace(f.horizon + 4, near, 9)[:-1]:  # lane dashes (still road)
        d = f.depth(y)
        cv2.line(image, (int(f.vx), int(y)), (int(f.vx), int(y + 12 * d)), (220, 220, 220),
                 max(1, int(4 * d)))


def _standing(f, name, offset, y):
    """Box ``(x0, y0, x1, y1, height)`` of an object of class ``name`` standing at row ``y``."""
    d = f.depth(y)
    hgt = _HEIGHTS[name] * f.h * d
    wid = _ASPECTS[name] * hgt
    x = f.lateral(y, offset)
    return x - wid / 2, y - hgt, x + wid / 2, y, hgt


def _objects(rng, image, label, f, boxes=None):
    """Draw the frame's objects far to near; ``boxes`` (a list) receives each drawn object's
    ``(class, x0, y0, x1, y1)`` (traffic signs and lights on poles, riders and their bicycles
    included; poles themselves are not boxed). Boxes are not clipped to the frame."""
    boxes = [] if boxes is None else boxes
    items = []
    n_vehicles = rng.integers(4, 12)
    for _ in range(n_vehicles):
        name = rng.choice(["car"] * 6 + ["truck", "bus"])
        y = f.horizon + (f.bottom - f.horizon) * rng.beta(1.2, 3.0)
        items.append((y, name, rng.uniform(-0.85, 0.85) * f.road_half))
    for _ in range(rng.integers(3, 10)):
        name = rng.choice(["person"] * 4 + ["rider", "bicycle", "motorcycle"])
        y = f.horizon + (f.bottom - f.horizon) * rng.beta(1.2, 2.5)
        side = rng.choice([-1, 1])
        offset = side * (f.road_half + rng.uniform(0.1, 0.9) * f.walk)
        if name in ("rider", "bicycle", "motorcycle"):
            offset = side * rng.uniform(0.6, 0.95) * f.road_half
        items.append((y, name, offset))
    for _ in range(rng.integers(2, 7)):
        y = f.horizon + (f.bottom - f.horizon) * rng.beta(1.3, 2.5)
        side = rng.choice([-1, 1])
        items.append((y, "pole", side * (f.road_half + rng.uniform(0.2, 0.8) * f.walk)))
    for y, name, offset in sorted(items):  # far to near: nearer objects occlude
        if name == "pole":
            boxes.extend(_draw_pole(rng, image, label, *_pole_box(f, offset, y)))
            continue
        x0, y0, x1, y1, hgt = _standing(f, name, offset, y)
        if name in ("person", "rider"):
            boxes.extend(_draw_person(rng, image, label, name, x0, y0, x1, y1, hgt))
        else:
            _draw_vehicle(rng, image, label, name, x0, y0, x1, y1, hgt)
            boxes.append((name, x0, y0, x1, y1))


def _pole_box(f, offset, y):
    """Box ``(x0, y0, x1, y1)`` of a pole standing at row ``y``."""
    d = f.depth(y)
    x = f.lateral(y, offset)
    wid = max(1.0, 0.006 * f.w * d)
    return x - wid / 2, y - _HEIGHTS["pole"] * (f.h - f.horizon) * d, x + wid / 2, y


def _draw_pole(rng, image, label, x0, y0, x1, y1):
    """Draw a pole with a sign or a light on top; returns ``[(class, x0, y0, x1, y1)]`` of the
    sign or light."""
    _rect(image, label, x0, y0, x1, y1, "pole", _colour(rng, "pole", 10))
    size = max(2.0, (x1 - x0) * rng.uniform(3, 6))
    cx = (x0 + x1) / 2
    if rng.random() < 0.5:
        _rect(image, label, cx - size / 2, y0, cx + size / 2, y0 + size, "traffic sign",
              _colour(rng, "traffic sign", 15))
        return [("traffic sign", cx - size / 2, y0, cx + size / 2, y0 + size)]
    _rect(image, label, cx - size / 3, y0, cx + size / 3, y0 + 1.8 * size, "traffic light",
          _colour(rng, "traffic light", 8))
    lamp = tuple(int(v) for v in rng.choice([(230, 40, 30), (240, 200, 30), (40, 220, 80)]))
    cv2.circle(image, (int(cx), int(y0 + size / 2)), max(1, int(size / 4)), lamp, -1)
    return [("traffic light", cx - size / 3, y0, cx + size / 3, y0 + 1.8 * size)]


def _draw_person(rng, image, label, name, x0, y0, x1, y1, hgt):
    """Draw a person or a rider (on a bicycle); returns their ``[(class, x0, y0, x1, y1)]``."""
    cx, w = (x0 + x1) / 2, x1 - x0
    boxes = []
    if name == "rider":  # a rider on a bicycle: the bicycle is its own class
        _rect(image, label, cx - 1.6 * w, y1 - 0.35 * hgt, cx + 1.6 * w, y1, "bicycle",
              _colour(rng, "bicycle"))
        boxes.append(("bicycle", cx - 1.6 * w, y1 - 0.35 * hgt, cx + 1.6 * w, y1))
        y1 = y1 - 0.25 * hgt
    _rect(image, label, x0, y0 + 0.18 * hgt, x1, y1, name, _colour(rng, name, 60))
    r = max(1, int(round(w * 0.35)))
    skin = tuple(int(v) for v in np.clip(np.array([200, 160, 130]) + rng.normal(0, 20, 3), 0, 255))
    cv2.circle(image, (int(cx), int(y0 + 0.1 * hgt)), r, skin, -1)
    cv2.circle(label, (int(cx), int(y0 + 0.1 * hgt)), r, TRAIN_IDS[name], -1)
    boxes.append((name, x0, y0, x1, y1))
    return boxes


def _draw_vehicle(rng, image, label, name, x0, y0, x1, y1, hgt):
    body = _colour(rng, name, 70)
    _rect(image, label, x0, y0 + 0.35 * hgt * (name == "car"), x1, y1 - 0.1 * hgt, name, body)
    if name == "car":  # cabin, windows, wheels: all car
        w = x1 - x0
        _rect(image, label, x0 + 0.2 * w, y0, x1 - 0.2 * w, y0 + 0.4 * hgt, name, body)
        dark = tuple(int(v * 0.4) for v in body)
        _rect(image, label, x0 + 0.25 * w, y0 + 0.05 * hgt, x1 - 0.25 * w, y0 + 0.33 * hgt, name,
              dark)
    r = max(1, int(0.12 * hgt))
    for wx in (x0 + 0.2 * (x1 - x0), x1 - 0.2 * (x1 - x0)):
        cv2.circle(image, (int(wx), int(y1 - r)), r, (20, 20, 20), -1)
        cv2.circle(label, (int(wx), int(y1 - r)), r, TRAIN_IDS[name], -1)


def render_frame(rng, height=512, width=1024, boxes=None):
    """One frame: ``(image (H, W, 3) uint8 RGB, label (H, W) uint8 train ids / 255)``.

    ``boxes``: a list that receives every drawn object's ``(class, x0, y0, x1, y1)`` in pixels
    (unclipped, occluded ones included); passing it draws nothing differently.
    """
    image = np.zeros((height, width, 3), np.uint8)
    label = np.full((height, width), IGNORE, np.uint8)
    f = _Frame(rng, height, width)
    _background(rng, image, label, f)
    _objects(rng, image, label, f, boxes)
    # the ego vehicle's bonnet: ignored, as in Cityscapes
    _rect(image, label, 0, f.bottom, width, height, "ego", _colour(rng, "ego", 5))
    label[int(round(f.bottom)):] = IGNORE
    shade = np.linspace(1.1, 0.85, height)[:, None, None] * rng.uniform(0.8, 1.2)
    noisy = image.astype(np.float32) * shade + rng.normal(0, 6, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), label


def _write_png(path, array):
    """PNG via cv2 (RGB images are written as cv2's BGR), atomically."""
    data = array[..., ::-1] if array.ndim == 3 else array
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(data))
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write_bytes(path, buf.tobytes())


def write_synthetic_cityscapes(root, train_frames=40, val_frames=10, size=(512, 1024), seed=0,
                               progress=None):
    """Write the set under ``root``; returns ``{split: number of frames}``.

    ``size`` is ``(H, W)``; ``progress`` wraps the frame iterator (e.g. ``tqdm``).
    """
    height, width = (int(s) for s in size)
    if height < MIN_SIZE or width < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} x {MIN_SIZE}, got {size}")
    if train_frames < 1 or val_frames < 1:
        raise ValueError("train_frames and val_frames must be at least 1")
    options = dict(train_frames=train_frames, val_frames=val_frames, size=[height, width],
                   seed=seed)
    completion.begin(root, MARKER_FILE, options, "Cityscapes-layout set")
    rng = np.random.default_rng(seed)
    jobs = [("train", i) for i in range(train_frames)] + [("val", i) for i in range(val_frames)]
    for split, i in (progress(jobs) if progress else jobs):
        cities = CITIES[split]
        city = cities[i % len(cities)]
        stem = f"{city}_{i // len(cities):06d}_{19:06d}"
        image, label = render_frame(rng, height, width)
        _write_png(os.path.join(root, "leftImg8bit", split, city, f"{stem}_leftImg8bit.png"), image)
        _write_png(os.path.join(root, "gtFine", split, city, f"{stem}_gtFine_labelTrainIds.png"),
                   label)
    completion.finish(root, options)
    return {"train": train_frames, "val": val_frames}
