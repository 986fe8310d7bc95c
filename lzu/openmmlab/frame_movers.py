"""Every piece of image geometry a data sample carries, moved into another image frame.

One place knows how each kind of geometry moves (boxes, masks, points, label maps,
metainfo shapes and matrices); every task mixin (``detector_mixin``, ``segmentor_mixin``)
moves its samples through ``move_sample``. What it does not know it refuses
(``UnmovableGeometryError``), naming the field, the model class and how to register
a mover: a sample is never half-moved, and no field is guessed or dropped.

The frame change (``FrameChange``)
    From the *input frame* (the image's valid region, ``src_shape = (h, w)``, at the
    top left of its padded batch) to the *target frame*: the same image uniformly
    resized by ``scale = (sx, sy)`` to ``dst_shape = (H, W)`` and padded bottom/right
    to ``dst_pad_shape``. A point ``(x, y)`` moves to ``(sx * x, sy * y)`` (the
    convention of mmdet's ``Resize`` and ``scale_factor``); ``matrix`` is the same
    map as a 3x3 homogeneous matrix. Today's frames are axis-aligned scales (LZU's
    unzoomed frame); a mixin with another frame change (e.g. a non-uniform unwarp)
    passes its own ``FrameChange`` subclass and overrides the movers that must
    differ; a mover that cannot follow it must raise ``UnmovableGeometryError``.

Movers (``mover(value, change, meta) -> moved value``; ``meta`` is the sample's
metainfo before the move, read-only)
    ``INSTANCE_MOVERS``: fields of ``InstanceData`` (``gt_instances``,
    ``ignored_instances``, ``gt_instances_3d``, ``proposals``): ``bboxes`` (any mmdet
    box type by its own ``rescale_``, or ``(N, 4)`` tensors), ``masks`` (mmdet's
    ``BitmapMasks`` by their ``crop``/``resize``/``pad``, ``PolygonMasks``, ``(N, H, W)``
    tensors), ``centers_2d``, ``keypoints`` (``(..., 2)`` or more, x and y first).
    ``PIXEL_MOVERS``: ``PixelData`` fields (``gt_sem_seg``: label maps, by
    ``mmcv.imresize(..., 'nearest')`` as mmseg's and mmdet's ``Resize`` do).
    ``META_MOVERS``: metainfo keys: ``img_shape``, ``pad_shape``,
    ``batch_input_shape`` and ``input_shape`` (mmdet3d's fusion layers),
    ``padding_size``, ``scale_factor`` and ``img_crop_offset`` (times ``(sx, sy)``),
    ``border`` (mmdet's ``RandomCenterCropPad``: ``[top, bottom, left, right]``),
    ``homography_matrix`` and ``trans_mat`` (maps *into* the frame: pre-multiplied
    by ``matrix``; ``trans_mat`` may be a list, one per down ratio), and the camera
    projections ``cam2img``, ``lidar2img``, ``depth2img`` (rows 0 and 1 scaled: FCOS3D,
    PGD, as mmdet3d's ``Resize3D`` does; but when the sample has a ``trans_mat``
    (SMOKE: mmdet3d's ``AffineResize``) the camera stays the original one and
    ``trans_mat`` alone moves). mmdet3d's point-fusion convention (``ori_cam2img`` /
    ``lidar2img`` in the original frame, then ``scale_factor`` and ``img_crop_offset``)
    follows from the ``scale_factor`` and ``img_crop_offset`` movers.

Geometry-free (``GEOMETRY_FREE_META``, ``GEOMETRY_FREE_INSTANCE``,
``GEOMETRY_FREE_FIELDS``): ids, paths, labels, flags, 3-D boxes and matrices that
never touch image pixels, and geometry of the *original* frame (``ori_shape``,
``ori_cam2img``, ``ori_lidar2img``), which the zoom does not change. Flips are
geometry-free here because the zoom follows them (``follow_flips``).

Registering a mover for a new field (at import time of your model's module)::

    from lzu.openmmlab.frame_movers import (register_geometry_free, register_instance_mover,
                                            register_meta_mover)

    def move_heading_points(points, change, meta):      # (N, 2) tensor in pixels
        return points * points.new_tensor(change.scale)

    register_instance_mover("heading_points", move_heading_points)
    register_meta_mover("my_crop_xy", lambda xy, change, meta: [xy[0] * change.scale[0],
                                                                xy[1] * change.scale[1]])
    register_geometry_free(meta=("weather",))            # holds no image geometry
"""

from dataclasses import dataclass

import mmcv
import numpy as np
import torch

from lzu.infra.errors import UserInputError

__all__ = [
    "GEOMETRY_FREE_FIELDS",
    "GEOMETRY_FREE_INSTANCE",
    "GEOMETRY_FREE_META",
    "INSTANCE_MOVERS",
    "META_MOVERS",
    "PIXEL_MOVERS",
    "FrameChange",
    "UnmovableGeometryError",
    "geometry_plan",
    "move_sample",
    "register_geometry_free",
    "register_instance_mover",
    "register_meta_mover",
    "register_pixel_mover",
    "resize_label_map",
]


class UnmovableGeometryError(UserInputError, ValueError):
    """A data sample carries geometry that cannot be moved into the target frame."""


@dataclass(frozen=True)
class FrameChange:
    """Input frame -> target frame: a uniform resize by ``scale = (sx, sy)``, then padding.

    Attributes:
        scale: ``(sx, sy)``; a point ``(x, y)`` moves to ``(sx * x, sy * y)``.
        src_shape: ``(h, w)`` of the image's valid region in the input frame.
        dst_shape: ``(H, W)`` of the image in the target frame.
        dst_pad_shape: ``(Hp, Wp)``: ``dst_shape`` padded bottom/right (the batch).
        seg_pad_value: label value of padded label-map pixels.
        owner: the model class name, for messages.
    """

    scale: tuple
    src_shape: tuple
    dst_shape: tuple
    dst_pad_shape: tuple
    seg_pad_value: int = 255
    owner: str = "the model"

    @property
    def matrix(self):
        """The point map as a 3x3 homogeneous matrix (float64)."""
        sx, sy = self.scale
        return np.diag([float(sx), float(sy), 1.0])


def _refuse(field, change, why, kind="field"):
    raise UnmovableGeometryError(
        f"{change.owner}: data sample {kind} '{field}' {why}; LZU moves each sample into the "
        "zoomed frame and does not guess. Register a mover for it "
        "(lzu.openmmlab.frame_movers.register_instance_mover / register_meta_mover / "
        "register_pixel_mover), or, if it holds no image geometry, "
        "lzu.openmmlab.frame_movers.register_geometry_free; see README 'LZU on your own model'"
    )


# --------------------------------------------------------------------- instance fields


def move_boxes(boxes, change, meta):
    """mmdet box types by their own ``rescale_``; ``(N, 4)`` xyxy tensors by ``(sx, sy, sx, sy)``."""
    sx, sy = change.scale
    if hasattr(boxes, "rescale_"):
        boxes = boxes.clone()
        boxes.rescale_((sx, sy))
        return boxes
    if torch.is_tensor(boxes) and boxes.dim() == 2 and boxes.shape[-1] == 4:
        return boxes * boxes.new_tensor([sx, sy, sx, sy])
    _refuse("bboxes", change, f"is a {type(boxes).__name__} of shape "
            f"{tuple(getattr(boxes, 'shape', ()))}, not an mmdet box type or (N, 4) boxes")


def move_points(points, change, meta):
    """Points ``(..., D)`` with x, y first (``centers_2d``, keypoints); other columns kept."""
    if not torch.is_tensor(points) or points.shape[-1] < 2:
        _refuse("points", change, f"is a {type(points).__name__}, not an (..., 2+) tensor")
    factors = points.new_ones(points.shape[-1])
    factors[0], factors[1] = change.scale
    return points * factors


def _valid_region(shape, change, meta, what):
    """The ``(h, w)`` region of a map of ``shape`` that covers the image (top left).

    A map covers the image alone (``img_shape``) or the image and its batch padding
    (``pad_shape`` / ``batch_input_shape``, the data preprocessor's padding). With
    ``padding_size`` (mmseg's preprocessor) the map minus that padding must be the
    image. Anything else (a map larger or smaller than its image) is refused: it
    would be cropped or stretched silently.
    """
    shape = tuple(int(s) for s in shape)
    h, w = (int(s) for s in change.src_shape)
    pads = meta.get("padding_size")
    if pads is not None:
        left, right, top, bottom = (int(p) for p in pads)
        ok = left == top == 0 and (shape[0] - bottom, shape[1] - right) == (h, w)
    else:
        padded = {tuple(int(s) for s in meta[k][:2]) for k in ("pad_shape", "batch_input_shape")
                  if meta.get(k) is not None}
        ok = shape == (h, w) or (shape in padded and shape[0] >= h and shape[1] >= w)
    if not ok:
        raise UnmovableGeometryError(
            f"{change.owner}: {what} of size {shape} does not match its image "
            f"{(h, w)} (padding {pads if pads is not None else 'none recorded'}; file "
            f"{meta.get('seg_map_path') or meta.get('img_path') or 'unknown'}); LZU resizes "
            "maps with their image and would crop or stretch this one silently. Resize the "
            "map with the image in the pipeline (mmseg/mmdet Resize does both) or fix the data"
        )
    return (h, w), shape != (h, w)


def resize_label_map(label, shape, pad_shape=None, pad_value=255):
    """Resize a label map ``(C, h, w)`` (any device) to ``shape = (H, W)`` as mmseg's Resize does.

    Nearest neighbour by ``mmcv.imresize`` (cv2), then padded bottom/right to
    ``pad_shape`` with ``pad_value``. Returns a tensor on the input's device and dtype.
    """
    h, w = (int(s) for s in shape)
    outs = []
    for channel in label:
        resized = mmcv.imresize(channel.cpu().numpy(), (w, h), interpolation="nearest",
                                backend="cv2")
        outs.append(torch.from_numpy(np.ascontiguousarray(resized)))
    out = torch.stack(outs).to(label.device, label.dtype)
    if pad_shape is not None and tuple(pad_shape) != (h, w):
        hz, wz = (int(s) for s in pad_shape)
        out = torch.nn.functional.pad(out, (0, wz - w, 0, hz - h), value=pad_value)
    return out


def move_masks(masks, change, meta):
    """Instance masks: their image region resized to ``dst_shape`` (nearest), padded if they were.

    ``BitmapMasks`` by mmdet's own ``crop`` / ``resize`` / ``pad``; ``PolygonMasks`` by
    scaling their vertices (what ``PolygonMasks.resize`` does); ``(N, H, W)`` tensors
    like label maps.
    """
    from mmdet.structures.mask import BitmapMasks, PolygonMasks

    (h, w), padded = _valid_region((masks.height, masks.width) if hasattr(masks, "height")
                                   else masks.shape[-2:], change, meta, "instance masks")
    big_h, big_w = change.dst_pad_shape if padded else change.dst_shape
    if isinstance(masks, BitmapMasks):
        if padded:
            masks = masks.crop(np.array([0, 0, w, h]))
        out = masks.resize(tuple(change.dst_shape))
        return out.pad((big_h, big_w), pad_val=0) if padded else out
    if isinstance(masks, PolygonMasks):
        sx, sy = change.scale
        polys = []
        for instance in masks.masks:
            moved = []
            for p in instance:
                p = np.asarray(p, dtype=np.float64).copy()
                p[0::2] *= sx
                p[1::2] *= sy
                moved.append(p)
            polys.append(moved)
        return PolygonMasks(polys, big_h, big_w)
    if torch.is_tensor(masks) and masks.dim() == 3:
        cropped = masks[:, :h, :w]
        if len(cropped) == 0:
            return cropped.new_zeros((0, big_h, big_w))
        out = resize_label_map(cropped.to(torch.uint8) if masks.dtype == torch.bool else cropped,
                               change.dst_shape, (big_h, big_w), 0)
        return out.to(masks.dtype)
    _refuse("masks", change, f"is a {type(masks).__name__}, not BitmapMasks, PolygonMasks or an "
            "(N, H, W) tensor")


def move_label_map(label, change, meta):
    """A ``(C, h, w)`` label map: its image region resized to ``dst_shape``, padded to the batch."""
    (h, w), _ = _valid_region(label.shape[-2:], change, meta, "label map")
    return resize_label_map(label[..., :h, :w], change.dst_shape, change.dst_pad_shape,
                            change.seg_pad_value)


# --------------------------------------------------------------------- metainfo


def _matrix_like(value, mat):
    """``mat`` (float64) in the container type of ``value``, its dtype if floating."""
    if isinstance(value, list | tuple):
        return mat.tolist()
    if torch.is_tensor(value):
        dtype = value.dtype if value.is_floating_point() else torch.float64
        return torch.as_tensor(mat, dtype=dtype, device=value.device)
    dtype = np.asarray(value).dtype
    return mat.astype(dtype) if np.issubdtype(dtype, np.floating) else mat


def move_projection(value, change, meta):
    """A camera projection into the input frame (``cam2img``: 3x3, 3x4 or 4x4): rows 0, 1 scaled.

    The FCOS3D / PGD convention (mmdet3d's ``Resize3D`` scales ``cam2img`` the same
    way). With a ``trans_mat`` in the sample (SMOKE: mmdet3d's
    ``AffineResize``), the projection is the original camera's and stays: the frame
    change is carried by ``trans_mat``.
    """
    if "trans_mat" in meta:
        return value
    mat = np.array(value, dtype=np.float64)
    if mat.ndim != 2 or mat.shape[0] < 2:
        _refuse("cam2img", change, f"has shape {mat.shape}, not a projection matrix", "metainfo key")
    mat[0] *= change.scale[0]
    mat[1] *= change.scale[1]
    return _matrix_like(value, mat)


def move_into_frame_matrix(value, change, meta):
    """A 3x3 map *into* the input frame (``homography_matrix``, ``trans_mat``): pre-multiplied.

    ``trans_mat`` maps the original image to the head's feature map; the unzoomed
    features lie in the target frame at the same stride, so its rows 0, 1 scale as the
    frame's. A list of matrices (one per down ratio) moves each.
    """
    if isinstance(value, list | tuple) and len(value) and np.ndim(value[0]) == 2:
        return type(value)(move_into_frame_matrix(v, change, meta) for v in value)
    mat = np.array(value, dtype=np.float64)
    if mat.shape != (3, 3):
        _refuse("trans_mat", change, f"has shape {mat.shape}, not 3x3", "metainfo key")
    return _matrix_like(value, change.matrix @ mat)


def move_border(border, change, meta):
    """mmdet's ``border`` ``[top, bottom, left, right]`` (``RandomCenterCropPad``) in pixels."""
    sx, sy = change.scale
    return _matrix_like(border, np.asarray(border, dtype=np.float64) * [sy, sy, sx, sx])


def move_scale_factor(value, change, meta):
    sx, sy = change.scale
    old = (1.0, 1.0) if value is None else value
    return (float(old[0]) * sx, float(old[1]) * sy)


def _set_shape(name):
    def mover(value, change, meta):
        return tuple(int(s) for s in (change.dst_pad_shape if name != "img_shape"
                                      else change.dst_shape))
    mover.__name__ = f"set_{name}"
    return mover


def move_crop_offset(value, change, meta):
    """``img_crop_offset`` ``(x, y)`` (mmdet3d's point-to-image fusion: ``ori * scale_factor -
    offset``) scales with the frame, as ``scale_factor`` does."""
    sx, sy = change.scale
    return _matrix_like(value, np.asarray(value, dtype=np.float64) * [sx, sy])


def move_padding_size(value, change, meta):
    (h, w), (hz, wz) = change.dst_shape, change.dst_pad_shape
    return [0, int(wz) - int(w), 0, int(hz) - int(h)]


INSTANCE_MOVERS = {
    "bboxes": move_boxes,
    "masks": move_masks,
    "centers_2d": move_points,
    "keypoints": move_points,
}
PIXEL_MOVERS = {"gt_sem_seg": move_label_map}
META_MOVERS = {
    "img_shape": _set_shape("img_shape"),
    "pad_shape": _set_shape("pad_shape"),
    "batch_input_shape": _set_shape("batch_input_shape"),
    "input_shape": _set_shape("input_shape"),
    "img_crop_offset": move_crop_offset,
    "padding_size": move_padding_size,
    "scale_factor": move_scale_factor,
    "border": move_border,
    "homography_matrix": move_into_frame_matrix,
    "trans_mat": move_into_frame_matrix,
    "cam2img": move_projection,
    "lidar2img": move_projection,
    "depth2img": move_projection,
}

#: metainfo keys that hold no geometry of the input frame
GEOMETRY_FREE_META = {
    # ids, paths, dataset bookkeeping
    "img_id", "img_path", "sample_idx", "token", "sample_token", "seg_map_path", "lidar_path",
    "instances", "timestamp", "cam_type", "dataset_name", "reduce_zero_label", "img_norm_cfg",
    "num_pts_feats", "num_views", "num_ref_frames", "text", "caption",
    # the original frame, which the zoom does not change
    "ori_shape", "ori_cam2img", "ori_lidar2img",
    # flips: the zoom follows them (follow_flips)
    "flip", "flip_direction",
    # flags
    "affine_aug", "keep_ratio",
    # 3-D geometry that never touches image pixels
    "box_mode_3d", "box_type_3d", "cam2ego", "cam2global", "ego2global", "lidar2cam",
    "lidar2ego", "axis_align_matrix", "pcd_horizontal_flip", "pcd_vertical_flip", "pcd_trans",
    "pcd_scale_factor", "pcd_rotation", "pcd_rotation_angle", "transformation_3d_flow",
    # lzu's own bookkeeping
    "lzu_zoomed", "lzu_input_shape",
}
#: fields of InstanceData with no image geometry
GEOMETRY_FREE_INSTANCE = {
    "labels", "labels_3d", "attr_labels", "bboxes_3d", "depths", "scores", "scores_3d",
    "ignore_flags", "instances_ids", "keypoints_visible",
}
#: data fields of a sample with no image geometry (or in the original frame)
GEOMETRY_FREE_FIELDS = {"eval_ann_info", "gt_pts_seg"}


def register_instance_mover(field, mover):
    """Move ``InstanceData`` field ``field`` with ``mover(value, change, meta)``."""
    INSTANCE_MOVERS[field] = mover


def register_pixel_mover(field, mover):
    """Move the data of ``PixelData`` field ``field`` with ``mover(data, change, meta)``."""
    PIXEL_MOVERS[field] = mover


def register_meta_mover(key, mover):
    """Move metainfo key ``key`` with ``mover(value, change, meta)``."""
    META_MOVERS[key] = mover


def register_geometry_free(meta=(), instance=(), fields=()):
    """Declare metainfo keys, ``InstanceData`` fields or data fields free of image geometry."""
    GEOMETRY_FREE_META.update(meta)
    GEOMETRY_FREE_INSTANCE.update(instance)
    GEOMETRY_FREE_FIELDS.update(fields)


# --------------------------------------------------------------------- a whole sample


def _plan(sample, with_gt, change):
    """What moves how; refuses the first field nothing knows (before anything moves)."""
    from mmengine.structures import InstanceData, PixelData

    meta = sample.metainfo
    meta_plan = []
    for key in meta:
        if key in META_MOVERS:
            meta_plan.append(key)
        elif key not in GEOMETRY_FREE_META:
            _refuse(key, change, "may hold image geometry and has no mover", "metainfo key")
    data_plan = []
    if not with_gt:
        return meta_plan, data_plan
    for name in sample.keys():
        value = sample.get(name)
        if name in GEOMETRY_FREE_FIELDS:
            continue
        if isinstance(value, InstanceData):
            for field in value.keys():
                if field in INSTANCE_MOVERS:
                    data_plan.append((name, field))
                elif field not in GEOMETRY_FREE_INSTANCE:
                    _refuse(f"{name}.{field}", change, "may hold image geometry and has no mover")
        elif isinstance(value, PixelData) and name in PIXEL_MOVERS:
            data_plan.append((name, None))
        else:
            _refuse(name, change, f"({type(value).__name__}) may hold image geometry and has "
                    "no mover")
    return meta_plan, data_plan


def geometry_plan(sample, change, with_gt=True):
    """What of ``sample`` holds image geometry: ``(metainfo keys, data fields)``.

    Data fields are ``(name, attribute)`` pairs for ``InstanceData`` fields and
    ``(name, None)`` for ``PixelData``. Refuses the first field nothing knows
    (``UnmovableGeometryError``). For a mixin whose frame change is not a scale
    (box unwarping) and that moves only what it can follow.
    """
    return _plan(sample, with_gt, change)


def move_sample(sample, change, with_gt=True, ensure=()):
    """Move one data sample into the target frame of ``change`` (in place; returns it).

    ``with_gt``: move the data fields too (training). Without it only the metainfo
    moves: evaluation samples keep their annotations in the original frame.
    ``ensure``: metainfo keys set even when the sample lacks them (e.g. a detector's
    ``scale_factor``). Every field is checked before anything moves.
    """
    from mmengine.structures import PixelData

    meta = dict(sample.metainfo)
    meta_plan, data_plan = _plan(sample, with_gt, change)
    update = {key: META_MOVERS[key](meta.get(key), change, meta)
              for key in dict.fromkeys([*meta_plan, *ensure])}
    moved = []
    for name, field in data_plan:
        if field is None:
            pixel = sample.get(name)
            for key in pixel.keys():
                moved.append((pixel, key, PIXEL_MOVERS[name](pixel.get(key), change, meta)))
        else:
            holder = sample.get(name)
            moved.append((holder, field, INSTANCE_MOVERS[field](holder.get(field), change, meta)))
    for holder, key, value in moved:
        if isinstance(holder, PixelData):
            delattr(holder, key)  # PixelData keeps its shape until its data is gone
        setattr(holder, key, value)
    sample.set_metainfo(update)
    return sample
