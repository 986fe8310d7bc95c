"""A synthetic 2-D detection set in the Argoverse-HD layout, made from the synthetic nuScenes scenes.

The paper's 2-D experiments use Argoverse-HD: 1920x1200 front-camera frames,
COCO-style json with 8 classes. ``write_argoverse_hd_from_nuscenes`` turns the
front-camera images of a prepared (synthetic) nuScenes root into that layout::

    <out>/Argoverse-1.1/tracking/<split>/<scene>/ring_front_center/<frame>.jpg
    <out>/Argoverse-HD/annotations/{train,val}.json

Each json is COCO (``images``, ``annotations``, ``categories``) plus Argoverse-HD's
own keys: ``sequences`` (one name per sequence), ``seq_dirs`` (its folder, relative
to ``Argoverse-1.1/tracking``) and, per image, ``name``, ``sid`` (index into both
lists) and ``fid`` (the frame's index in its sequence, 0, 1, 2, ... in time order);
``file_name`` is ``seq_dirs[sid]/name``. The frames of a scene are its samples in
timestamp order (the synthetic scenes are tracks sampled every 0.5 s, so objects
move smoothly between consecutive frames, appear and leave, as in real video).

``check_sequences`` checks the ``sid``/``fid`` layout of any such json (the
adaptive, video models need it). The boxes are
the 2-D boxes of mmdet3d's ``cam_instances`` (the projected 3-D boxes, clipped to
the image), with nuScenes classes mapped onto Argoverse-HD's (classes it lacks are
dropped). Images are copies of the nuScenes ones; by default all six cameras are used,
each as its own sequence (``RING_CAMERAS``).

Every file is written with ``lzu.infra.atomic_io.atomic_open``: a link planted at a
file's name is replaced, never written through; below a held folder (the demo's locked work
dir, ``tools/demo_det2d.py``) a link among the folders is refused with one line.
"""

import json
import os
import os.path as osp
import shutil

from lzu.data.infos import load_infos
from lzu.infra.atomic_io import atomic_open, atomic_write_json

__all__ = [
    "ARGOVERSE_HD_CLASSES",
    "check_sequences",
    "NUSCENES_TO_ARGOVERSE",
    "RING_CAMERAS",
    "write_argoverse_hd_from_nuscenes",
]

ARGOVERSE_HD_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck", "traffic_light",
                        "stop_sign")
NUSCENES_CLASSES = ("car", "truck", "trailer", "bus", "construction_vehicle", "bicycle",
                    "motorcycle", "pedestrian", "traffic_cone", "barrier")
#: nuScenes detection class -> Argoverse-HD class (others have no counterpart)
NUSCENES_TO_ARGOVERSE = {"car": "car", "truck": "truck", "bus": "bus", "bicycle": "bicycle",
                         "motorcycle": "motorcycle", "pedestrian": "person"}
#: nuScenes camera -> the Argoverse ring camera folder it stands for
RING_CAMERAS = {"CAM_FRONT": "ring_front_center", "CAM_FRONT_LEFT": "ring_front_left",
                "CAM_FRONT_RIGHT": "ring_front_right", "CAM_BACK_LEFT": "ring_rear_left",
                "CAM_BACK_RIGHT": "ring_rear_right", "CAM_BACK": "ring_side_left"}
MIN_BOX_SIDE = 2.0  # px; thinner clipped boxes are dropped


def _copy(src, dst):
    with open(src, "rb") as fin, atomic_open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)


def _scene_names(nusc_root):
    """sample token -> scene name, from the nuScenes tables (``<root>/v1.0-*/``)."""
    versions = sorted(d for d in os.listdir(nusc_root) if d.startswith("v1.0-"))
    if not versions:
        raise FileNotFoundError(f"no nuScenes tables (v1.0-*/) under '{nusc_root}'")
    tables = osp.join(nusc_root, versions[0])
    scenes = {s["token"]: s["name"] for s in read_json(osp.join(tables, "scene.json"))}
    return {s["token"]: scenes[s["scene_token"]] for s in read_json(osp.join(tables, "sample.json"))}


def _split(nusc_root, out_root, split, size, cameras):
    infos = load_infos(osp.join(nusc_root, f"nuscenes_infos_{split}.pkl"))
    scene_of = _scene_names(nusc_root)
    # frames of a sequence in time order (stable: infos without a timestamp keep their order)
    infos = sorted(infos, key=lambda i: (scene_of[i["token"]], i.get("timestamp", 0)))
    width, height = size
    seq_dirs, images, annotations = [], [], []
    seq_index, frames = {}, {}
    for info, camera in ((i, c) for c in cameras for i in infos):
        seq = f"{split}/{scene_of[info['token']]}/{RING_CAMERAS[camera]}"
        if seq not in seq_index:
            seq_index[seq] = len(seq_dirs)
            seq_dirs.append(seq)
        sid = seq_index[seq]
        cam = info["images"][camera]
        name = osp.basename(cam["img_path"])
        src = osp.join(nusc_root, "samples", camera, cam["img_path"])
        _copy(src, osp.join(out_root, "Argoverse-1.1", "tracking", seq_dirs[sid], name))
        image_id = len(images) + 1  # COCO ids start at 1 (pycocotools treats id 0 as "none")
        fid = frames.get(sid, 0)
        frames[sid] = fid + 1
        images.append({"id": image_id, "file_name": f"{seq_dirs[sid]}/{name}", "name": name,
                       "sid": sid, "fid": fid, "width": width, "height": height})
        for inst in info.get("cam_instances", {}).get(camera, []):
            cls = NUSCENES_TO_ARGOVERSE.get(NUSCENES_CLASSES[inst["bbox_label_3d"]])
            if cls is None:
                continue
            x1, y1, x2, y2 = inst["bbox"]
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(width), x2), min(float(height), y2)
            w, h = x2 - x1, y2 - y1
            if min(w, h) < MIN_BOX_SIDE:
                continue
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": ARGOVERSE_HD_CLASSES.index(cls),
                                "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0,
                                "ignore": 0})
    categories = [{"id": i, "name": n} for i, n in enumerate(ARGOVERSE_HD_CLASSES)]
    return {"images": images, "annotations": annotations, "categories": categories,
            "sequences": [d.replace("/", "_") for d in seq_dirs], "seq_dirs": seq_dirs}


def write_argoverse_hd_from_nuscenes(nusc_root, out_root, size=(1600, 900), cameras=None):
    """Write the Argoverse-HD-layout set under ``out_root``; returns ``{split: (images, boxes)}``.

    ``nusc_root`` must hold v2 infos (``tools/create_data.py``). ``cameras``: the
    nuScenes cameras to take, each a sequence of its own (default: all six, for
    more frames; Argoverse-HD itself has only ``ring_front_center``). Both json
    files are written atomically, so a half-written set is never read as complete.
    """
    cameras = tuple(cameras or RING_CAMERAS)
    unknown = [c for c in cameras if c not in RING_CAMERAS]
    if unknown:
        raise ValueError(f"unknown cameras {unknown}; choose from {sorted(RING_CAMERAS)}")
    counts = {}
    for split in ("train", "val"):
        data = _split(nusc_root, out_root, split, size, cameras)
        path = osp.join(out_root, "Argoverse-HD", "annotations", f"{split}.json")
        atomic_write_json(path, data, indent=None)
        counts[split] = (len(data["images"]), len(data["annotations"]))
    return counts


def check_sequences(data, path):
    """``{image id: (sid, fid)}`` of a parsed Argoverse-HD json, or ``None`` if it has no frames.

    A json whose images carry no ``fid`` has no video layout (fine for per-frame
    models; an adaptive model then refuses, naming the missing metainfo). Otherwise
    every image needs a whole ``sid`` (an index into ``sequences``/``seq_dirs``, which
    must have the same length when both are present) and a whole ``fid`` >= 0, and no
    two images may share a ``(sid, fid)``; anything else raises
    ``AnnotationFileError`` naming the image.
    """
    from lzu.data.coco_json import AnnotationFileError

    images = data.get("images") or []
    if not any(isinstance(img, dict) and "fid" in img for img in images):
        return None
    lists = {k: data[k] for k in ("sequences", "seq_dirs") if k in data}
    for key, value in lists.items():
        if not isinstance(value, list):
            raise AnnotationFileError(f"annotation file '{path}': '{key}' is not a list")
    if len({len(v) for v in lists.values()}) > 1:
        raise AnnotationFileError(
            f"annotation file '{path}': 'sequences' ({len(lists['sequences'])}) and 'seq_dirs' "
            f"({len(lists['seq_dirs'])}) must list the same sequences")
    count = len(next(iter(lists.values()))) if lists else None
    seen, frames = {}, {}
    for img in images:
        where = f"annotation file '{path}', image id {img.get('id')!r}"
        for key in ("sid", "fid"):
            value = img.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AnnotationFileError(
                    f"{where}: '{key}' is {'missing' if key not in img else repr(value)}; "
                    "every image of a video json needs a whole 'sid' (its sequence) and 'fid' "
                    "(its frame index) >= 0")
        if count is not None and img["sid"] >= count:
            raise AnnotationFileError(f"{where}: sid {img['sid']} is not an index into "
                                      f"'sequences'/'seq_dirs' ({count} sequences)")
        key = (img["sid"], img["fid"])
        if key in seen:
            raise AnnotationFileError(f"{where}: sequence {key[0]} frame {key[1]} is also image "
                                      f"id {seen[key]!r} (a frame index must be unique)")
        seen[key] = img.get("id")
        frames[img.get("id")] = key
    return frames


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
