"""A synthetic 2-D detection set in the Argoverse-HD layout, drawn from the street-scene renderer.

    write_street_argoverse_hd("data/street_argoverse", train_frames=120, val_frames=40,
                              size=(288, 512))

The frames are the Cityscapes-layout renderer's (``cityscapes_writer.render_frame``): a
road in perspective, every object standing on the ground plane with its image size
proportional to its distance below the horizon (size ~ 1 / depth), so most objects are
small and concentrated in a band just below the horizon. Each drawn object's box becomes
a COCO annotation of Argoverse-HD's 8 classes (``STREET_TO_ARGOVERSE``; a traffic sign
stands for ``stop_sign``); a box is kept when it is at least ``MIN_BOX_SIDE`` px on both
sides after clipping to the frame and at least ``min_visible`` of its pixels still carry
its class in the label map (nearer objects occlude farther ones). Layout, as
``lzu.data.argoverse_hd``::

    <root>/Argoverse-1.1/tracking/<split>/<seq>/ring_front_center/<frame>.jpg
    <root>/Argoverse-HD/annotations/{train,val}.json

``downsample`` > 1 stores every frame shrunk by that factor (``cv2.INTER_AREA``) with its
boxes scaled alike: the low-resolution input of a "learn to upsample" experiment, the
same scenes as ``downsample=1`` for the same seed. Complete once
``lzu.data.synthetic.completion.check_complete(root, options)`` says so.
"""

import os.path as osp

import cv2
import numpy as np

from lzu.data.argoverse_hd import ARGOVERSE_HD_CLASSES
from lzu.data.synthetic import completion
from lzu.data.synthetic.cityscapes_writer import TRAIN_IDS, render_frame
from lzu.infra.atomic_io import atomic_write_bytes, atomic_write_json

__all__ = ["MARKER_FILE", "STREET_TO_ARGOVERSE", "frame_boxes", "write_street_argoverse_hd"]

MARKER_FILE = ".lzu_synthetic_street_argoverse"
#: renderer class -> Argoverse-HD class
STREET_TO_ARGOVERSE = {"person": "person", "rider": "person", "bicycle": "bicycle", "car": "car",
                       "motorcycle": "motorcycle", "bus": "bus", "truck": "truck",
                       "traffic light": "traffic_light", "traffic sign": "stop_sign"}
MIN_BOX_SIDE = 2.0  # px at full resolution; thinner clipped boxes are dropped
FRAMES_PER_SEQUENCE = 20


def frame_boxes(label, drawn, min_visible=0.3):
    """Visible boxes of one frame: ``[(argoverse class, x0, y0, x1, y1)]``, clipped to the frame.

    ``label``: the frame's ``(H, W)`` train-id map; ``drawn``: ``render_frame``'s boxes. A box
    is visible when ``min_visible`` of its (clipped, integer-rounded) pixels hold its class.
    """
    height, width = label.shape
    kept = []
    for name, x0, y0, x1, y1 in drawn:
        x0, y0 = max(0.0, float(x0)), max(0.0, float(y0))
        x1, y1 = min(float(width), float(x1)), min(float(height), float(y1))
        if min(x1 - x0, y1 - y0) < MIN_BOX_SIDE:
            continue
        patch = label[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))]
        if patch.size == 0 or float(np.mean(patch == TRAIN_IDS[name])) < min_visible:
            continue
        kept.append((STREET_TO_ARGOVERSE[name], x0, y0, x1, y1))
    return kept


def _write_jpg(path, image):
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write_bytes(path, buf.tobytes())


def write_street_argoverse_hd(root, train_frames=120, val_frames=40, size=(288, 512), seed=0,
                              downsample=1.0, min_visible=0.3):
    """Write the set under ``root``; returns ``{split: (images, boxes)}``.

    ``size`` is the rendered ``(H, W)``; the stored frames are ``size / downsample``.
    """
    height, width = (int(s) for s in size)
    if height < 32 or width < 32:
        raise ValueError(f"size must be at least 32 x 32, got {size}")
    if train_frames < 1 or val_frames < 1:
        raise ValueError("train_frames and val_frames must be at least 1")
    if downsample < 1:
        raise ValueError(f"downsample must be >= 1, got {downsample}")
    options = dict(train_frames=train_frames, val_frames=val_frames, size=[height, width],
                   seed=seed, downsample=float(downsample), min_visible=float(min_visible))
    completion.begin(root, MARKER_FILE, options, "Argoverse-HD-layout street set")
    out_w, out_h = int(round(width / downsample)), int(round(height / downsample))
    sx, sy = out_w / width, out_h / height
    rng = np.random.default_rng(seed)
    categories = [{"id": i, "name": n} for i, n in enumerate(ARGOVERSE_HD_CLASSES)]
    counts = {}
    for split, n in (("train", train_frames), ("val", val_frames)):
        seq_dirs, images, annotations = [], [], []
        for i in range(n):
            sid, fid = divmod(i, FRAMES_PER_SEQUENCE)
            if sid == len(seq_dirs):
                seq_dirs.append(f"{split}/street-{sid:04d}/ring_front_center")
            drawn = []
            image, label = render_frame(rng, height, width, boxes=drawn)
            if downsample != 1:
                image = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA)
            name = f"street-{sid:04d}_{fid:06d}.jpg"
            _write_jpg(osp.join(root, "Argoverse-1.1", "tracking", seq_dirs[sid], name), image)
            image_id = len(images) + 1  # COCO ids start at 1
            images.append({"id": image_id, "file_name": f"{seq_dirs[sid]}/{name}", "name": name,
                           "sid": sid, "fid": fid, "width": out_w, "height": out_h})
            for cls, x0, y0, x1, y1 in frame_boxes(label, drawn, min_visible):
                w, h = (x1 - x0) * sx, (y1 - y0) * sy
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": ARGOVERSE_HD_CLASSES.index(cls),
                                    "bbox": [x0 * sx, y0 * sy, w, h], "area": w * h, "iscrowd": 0,
                                    "ignore": 0})
        atomic_write_json(osp.join(root, "Argoverse-HD", "annotations", f"{split}.json"),
                          {"images": images, "annotations": annotations,
                           "categories": categories, "seq_dirs": seq_dirs}, indent=None)
        counts[split] = (len(images), len(annotations))
    completion.finish(root, options)
    return counts
