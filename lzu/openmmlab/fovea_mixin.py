"""FOVEA's box unwarping on any mmdet detector: zoom the image, detect there, unwarp the boxes.

FOVEA (Thavamani et al., ICCV 2021) is the baseline LZU is compared with on
Argoverse-HD: the same saliency zoom, but the detector runs entirely in the
zoomed frame and only its *boxes* are mapped back ("unwarped"); LZU instead
unzooms the *features*, so its head works in a uniformly downsampled frame.
``FoveaDetectorMixin`` goes first in the bases of a detector class (``lzu.openmmlab.models``
registers ``FoveaFCOS``, ``FoveaRetinaNet``, ``FoveaFasterRCNN``); a new one is three lines::

    @MODELS.register_module()
    class FoveaYOLOX(FoveaDetectorMixin, YOLOX):
        \"\"\"YOLOX with FOVEA's zoom and box unwarping.\"\"\"

Config keys (besides the detector's own): ``grid_generator``, ``follow_flips``,
``pad_size_divisor``, ``adaptive_saliency`` as for LZU (``lzu.openmmlab.features_mixin``),
``unwarp_samples``: points per box edge for a non-separable grid, and ``gt_frame``:

* ``'original'`` (FOVEA's released training): the GT stays in the input frame; FOVEA's
  heads (``lzu.openmmlab.fovea_heads``) assign unwarped anchors / proposals and unwarp
  their decoded boxes before the box loss. Each sample carries its full-resolution grid
  (metainfo ``fovea_frame``) and every map back, at test time too, is FOVEA's
  ``unwarp_bboxes``: ``unwarp_boxes`` through that grid;
* ``'zoomed'``: the GT is warped into the zoomed frame (below) and the detector's own
  heads train there, unchanged; predictions are unwarped through the coarse grid's
  piecewise-bilinear map. This is not FOVEA's training; it is the way to put any mmdet
  detector, whose heads FOVEA never had, behind the zoom with its own losses.
* ``None`` (default): ``'original'`` when the box heads are FOVEA's, else ``'zoomed'``.

Adaptive (``grid_generator=dict(type='AdaptiveGrid', ...)``, ``adaptive_saliency``):
FOVEA's temporal saliency. Each image's saliency comes from boxes
(``lzu.openmmlab.video_saliency``: GT in training, the previous frame's detections
at test time, frames of a sequence predicted in order); predicted boxes (and, with
``gt_frame='zoomed'``, GT boxes) move through that image's own grid.

What happens to a batch (``lzu.core.box_warp`` has the geometry):

* each image's own region is zoomed to ``output_shape`` with its (flipped) saliency,
  padded, and the backbone, neck and head run on the zoomed batch unchanged;
* training with ``gt_frame='zoomed'``: GT boxes (``gt_instances`` and
  ``ignored_instances``) are warped into the zoomed frame, each as the box of its
  warped edges (for a separable grid the warped corners, exact); with
  ``gt_frame='original'`` they stay where they are; either way metainfo
  ``img_shape``, ``pad_shape`` and ``batch_input_shape`` describe the zoomed batch;
* inference: the head predicts boxes in the zoomed frame (``rescale=False``), each is
  unwarped into the input image through the same map and then, with ``rescale``,
  divided by ``scale_factor`` as mmdet's heads do, so boxes come back in the
  original image; the metainfo shapes are restored to the input frame.

Geometry a non-uniform warp cannot move as a scale -- instance masks, label maps,
keypoints, camera matrices, crop borders -- is refused at the first batch, naming
the field (``UnmovableGeometryError``): FOVEA is defined on boxes.
"""

from lzu.core.box_warp import unwarp_boxes, warp_boxes
from lzu.core.zoom import upsample_grid
from lzu.openmmlab.features_mixin import INPUT_SHAPE, ZOOMED_FLAG
from lzu.openmmlab.fovea_heads import FOVEA_FRAME, ZoomedFrame, original_frame_heads
from lzu.openmmlab.frame_movers import (
    FrameChange,
    UnmovableGeometryError,
    geometry_plan,
    register_geometry_free,
)
from lzu.openmmlab.task_mixin import TaskMixin, images_of

__all__ = ["FoveaDetectorMixin"]

#: metainfo keys the warp sets (shapes) or leaves as they are (``scale_factor``: input
#: image -> original image, used after unwarping)
_WARP_META = ("img_shape", "pad_shape", "batch_input_shape", "scale_factor")
#: instance fields the warp moves
_WARP_INSTANCE = {("gt_instances", "bboxes"), ("ignored_instances", "bboxes")}
#: metainfo key holding the input frame's shapes while a sample is in the zoomed frame
INPUT_META = "fovea_input_meta"
register_geometry_free(meta=(INPUT_META, FOVEA_FRAME))
#: where the GT trains (module docstring)
GT_FRAMES = ("original", "zoomed")


class FoveaDetectorMixin(TaskMixin):
    """Zoom, detect in the zoomed frame, unwarp the boxes; see the module docstring."""

    zoom_regions = ("image",)
    supports_adaptive = True

    def __init__(self, *args, unwarp_samples=9, gt_frame=None, **kwargs):
        super().__init__(*args, **kwargs)
        if int(unwarp_samples) < 2:
            raise UnmovableGeometryError(f"model.unwarp_samples must be >= 2, got {unwarp_samples!r}")
        self.unwarp_samples = int(unwarp_samples)
        self.gt_frame = self._resolve_gt_frame(gt_frame)

    def _resolve_gt_frame(self, gt_frame):
        """``gt_frame`` checked against the heads (FOVEA's heads take original-frame GT)."""
        owner = type(self).__name__
        if gt_frame not in (None, *GT_FRAMES):
            raise UnmovableGeometryError(
                f"{owner}: model.gt_frame must be one of {GT_FRAMES} or None, got {gt_frame!r}")
        fovea, other = original_frame_heads(self)
        if gt_frame is None:
            gt_frame = "original" if fovea and not other else "zoomed"
        if gt_frame == "original" and other:
            raise UnmovableGeometryError(
                f"{owner}: gt_frame='original' needs FOVEA's heads (lzu.openmmlab.fovea_heads, "
                f"e.g. FoveaRPNHead), but {', '.join(other)} is not; change them or set "
                "model.gt_frame='zoomed'")
        if gt_frame == "zoomed" and fovea:
            raise UnmovableGeometryError(
                f"{owner}: {', '.join(fovea)} take the GT in the original frame, so "
                "gt_frame='zoomed' cannot train them; use gt_frame='original' or mmdet's heads")
        return gt_frame

    def extract_feat(self, batch_inputs):
        """Features of the zoomed batch, in the zoomed frame (no unzoom)."""
        zoomed, _ = self.zoom_inputs(images_of(batch_inputs))
        feats = self.backbone(zoomed)
        return self.neck(feats) if self.with_neck else feats

    def _coarse(self, flip, imgs):
        """The coarse zoom grid ``(1, gh, gw, 2)`` of an image flipped by ``flip``."""
        return self._fixed_grids(flip, imgs)[1]

    def _full_grid(self, flip, imgs):
        """The full-resolution zoom grid ``(1, H, W, 2)`` of an image flipped by ``flip``."""
        return self._fixed_grids(flip, imgs)[0]

    def _fixed_grids(self, flip, imgs):
        """The fixed zoom's ``(full-resolution, coarse)`` grids for ``flip`` (if followed)."""
        if not self.lzu.follow_flips:
            flip = None
        return self.grid_generator.grids(imgs.device, imgs.dtype, flip)

    def _move_sample(self, sample, shape, flip, coarse, zoomed, with_gt, imgs):
        """Move the sample's metainfo (and, with ``gt_frame='zoomed'``, its GT boxes) into
        the zoomed frame. Returns ``(coarse grid, (h, w) input region, the input frame's
        metainfo shapes, its ZoomedFrame or None)``."""
        owner = type(self).__name__
        meta = sample.metainfo
        h, w = self.output_shape
        zoom = None
        if self.gt_frame == "original":
            zoom = meta.get(FOVEA_FRAME)
            if zoom is None:  # the full-resolution grid: FOVEA's unwarp_bboxes samples it
                full = (self._full_grid(flip, imgs) if coarse is None
                        else upsample_grid(coarse, (h, w)))
                zoom = ZoomedFrame(full, (w, h), (shape[1], shape[0]),
                                   self.grid_generator.separable, self.unwarp_samples)
        if coarse is None:
            coarse = self._coarse(flip, imgs)
        frame = (coarse, shape, meta.get(INPUT_META, {
            key: meta[key] for key in ("img_shape", "pad_shape", "batch_input_shape")
            if key in meta}), zoom)
        if zoomed:
            return frame
        pad = self.lzu.padded((h, w))
        change = FrameChange((w / shape[1], h / shape[0]), shape, (h, w), pad, owner=owner)
        meta_keys, fields = geometry_plan(sample, change, with_gt=with_gt)
        for key in meta_keys:
            if key not in _WARP_META:
                raise UnmovableGeometryError(
                    f"{owner}: data sample metainfo key '{key}' holds image geometry that "
                    "FOVEA's non-uniform warp cannot move (it unwarps boxes only); use an LZU "
                    "model for it")
        for name, field in fields:
            if (name, field) not in _WARP_INSTANCE:
                label = f"{name}.{field}" if field else name
                raise UnmovableGeometryError(
                    f"{owner}: data sample field '{label}' holds image geometry that FOVEA's "
                    "non-uniform warp cannot move (it warps boxes only); use an LZU model "
                    "for it")
        for name, field in fields if self.gt_frame == "zoomed" else ():
            holder = sample.get(name)
            setattr(holder, field, self._warp(holder.get(field), coarse, shape))
        if zoom is not None:
            sample.set_metainfo({FOVEA_FRAME: zoom})
        sample.set_metainfo({INPUT_SHAPE: shape, ZOOMED_FLAG: True, INPUT_META: frame[2],
                             "img_shape": (h, w), "pad_shape": pad, "batch_input_shape": pad})
        return frame

    def _warp(self, boxes, coarse, shape):
        """Input-frame boxes (tensor or mmdet box type) -> zoomed frame, same type."""
        h, w = self.output_shape
        tensor = boxes.tensor if hasattr(boxes, "tensor") else boxes
        if tensor.dim() != 2 or tensor.shape[-1] != 4:
            raise UnmovableGeometryError(
                f"{type(self).__name__}: boxes of shape {tuple(tensor.shape)} are not (N, 4) "
                "x1y1x2y2; FOVEA warps axis-aligned boxes only")
        moved = warp_boxes(tensor, coarse.to(tensor.device), (shape[1], shape[0]), (w, h),
                           separable=self.grid_generator.separable, samples=self.unwarp_samples)
        return type(boxes)(moved) if hasattr(boxes, "tensor") else moved

    def _predict_kwargs(self, rescale):
        return {"rescale": False}  # boxes in the zoomed frame: unwarped, then rescaled, below

    def _restore_predictions(self, results, frames, rescale):
        """Unwarp each predicted box into the input image (then, with ``rescale``, divide by
        ``scale_factor``) and restore the input frame's metainfo shapes."""
        h, w = self.output_shape
        for sample, (coarse, shape, input_meta, zoom) in zip(results, frames, strict=True):
            pred = sample.pred_instances
            if zoom is not None:  # FOVEA's unwarp: the full-resolution grid
                boxes = zoom.unwarp(pred.bboxes)
                if FOVEA_FRAME in sample.metainfo:
                    delattr(sample, FOVEA_FRAME)
            else:
                boxes = unwarp_boxes(pred.bboxes, coarse.to(pred.bboxes.device), (w, h),
                                     (shape[1], shape[0]),
                                     separable=self.grid_generator.separable,
                                     samples=self.unwarp_samples)
            if rescale:
                sx, sy = sample.metainfo.get("scale_factor", (1.0, 1.0))
                boxes = boxes / boxes.new_tensor([sx, sy, sx, sy])
            pred.bboxes = boxes
            sample.set_metainfo({**input_meta, ZOOMED_FLAG: False})
        return results
