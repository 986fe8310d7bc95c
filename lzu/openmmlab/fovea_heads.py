"""FOVEA's heads: ground truth stays in the original frame, the zoomed frame maps back to it.

FOVEA (Thavamani et al., ICCV 2021; its released code) runs an unchanged detector on
the zoomed image but never moves the ground truth into the zoomed frame. Each head
keeps anchors, proposals, RoI pooling, box coding and NMS in the zoomed frame and
maps boxes back to the original frame exactly where they meet the ground truth:

* **assignment** (RPN anchors, RoI-head proposals, RetinaNet anchors): the priors are
  unwarped and assigned against the original-frame GT with the head's own assigner;
  sampling, the RoIs and the box coder's reference boxes stay the zoomed ones;
* **box loss**: the predicted deltas are decoded relative to the zoomed priors with no
  ``max_shape`` (no clipping), unwarped per image, and compared with the original-frame
  GT by the head's ``loss_bbox`` (FOVEA: GIoU, weight 1 for the RPN and 10 for the RoI
  head), so ``reg_decoded_bbox=True`` is required;
* the RoI head's sampler must not add GT boxes as proposals (they are in the other frame).

Test time needs nothing here: the detector (``lzu.openmmlab.fovea_mixin``) predicts
with ``rescale=False`` (decode, clip and NMS in the zoomed frame) and unwarps the kept
boxes. Only the decoded boxes of the rows that carry a loss weight are unwarped: each
box maps independently, so the loss is FOVEA's (which unwarps every row) to rounding.

"FOVEA on a one-stage head" (``FoveaRetinaHead``; FOVEA shipped Faster R-CNN only) is
the RPN's rule applied to a multi-class anchor head: anchors unwarped for assignment,
decoded boxes unwarped before the box loss.

Every map back is ``lzu.core.box_warp.unwarp_boxes`` through the sample's
full-resolution grid (FOVEA's ``unwarp_bboxes``; see that module), which the detector
puts in each sample's metainfo under ``FOVEA_FRAME`` as a ``ZoomedFrame``.
"""

from dataclasses import dataclass

import torch
from mmdet.models.dense_heads import RetinaHead, RPNHead
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData

from lzu.core.box_warp import unwarp_boxes
from lzu.infra.errors import UserInputError

__all__ = ["FOVEA_FRAME", "FoveaAnchorHeadMixin", "FoveaBBoxHeadMixin", "FoveaRPNHead",
           "FoveaRetinaHead", "FoveaShared2FCBBoxHead", "FoveaStandardRoIHead", "ZoomedFrame",
           "original_frame_heads"]

#: metainfo key of a sample's ``ZoomedFrame`` while it is in the zoomed frame
FOVEA_FRAME = "fovea_frame"


@dataclass(frozen=True)
class ZoomedFrame:
    """How one sample's zoomed frame maps back to its input frame.

    ``grid``: the full-resolution zoom grid ``(1, H_z, W_z, 2)`` of the image's own
    frame (xy, ``[-1, 1]``, ``align_corners=True``); ``zoomed_size`` / ``input_size``:
    ``(W, H)``; ``separable`` / ``samples``: as ``unwarp_boxes``. Deep copies share it
    (mmdet copies data samples; the grid may carry the gradient of a learned saliency).
    """

    grid: torch.Tensor
    zoomed_size: tuple
    input_size: tuple
    separable: bool = True
    samples: int = 9

    def __deepcopy__(self, memo):
        return self

    def unwarp(self, boxes):
        """``(N, 4)`` zoomed-frame boxes -> input frame (differentiable)."""
        return unwarp_boxes(boxes, self.grid.to(boxes.device), self.zoomed_size, self.input_size,
                            separable=self.separable, samples=self.samples)


def _frame(meta, owner):
    frame = meta.get(FOVEA_FRAME)
    if frame is None:
        raise UserInputError(
            f"{owner}: a data sample has no metainfo '{FOVEA_FRAME}'; FOVEA's heads take the "
            "ground truth in the original frame and run only inside a FOVEA detector with "
            "gt_frame='original' (lzu.openmmlab.fovea_mixin)")
    return frame


def original_frame_heads(model):
    """``(names of FOVEA heads, names of other box heads)`` of a detector."""
    heads = {"rpn_head": getattr(model, "rpn_head", None),
             "bbox_head": getattr(model, "bbox_head", None),
             "roi_head": getattr(model, "roi_head", None)}
    if heads["roi_head"] is not None:
        heads["roi_head.bbox_head"] = getattr(heads["roi_head"], "bbox_head", None)
    fovea, other = [], []
    for name, head in heads.items():
        if head is not None:
            (fovea if getattr(head, "fovea_original_frame", False) else other).append(name)
    return fovea, other


class _OriginalFrameAssigner:
    """An assigner that assigns the unwarped priors (the GT is in the original frame)."""

    def __init__(self, assigner, frame):
        self.assigner, self.frame = assigner, frame

    def assign(self, pred_instances, gt_instances, gt_instances_ignore=None, **kwargs):
        moved = InstanceData(**dict(pred_instances.items()))
        with torch.no_grad():
            moved.priors = self.frame.unwarp(get_box_tensor(pred_instances.priors))
        return self.assigner.assign(moved, gt_instances, gt_instances_ignore, **kwargs)


class _OriginalFrameHeadMixin:
    """What every FOVEA head shares: it computes its losses in the original frame
    (``fovea_original_frame``), which needs decoded boxes, and holds the batch's
    ``ZoomedFrame`` objects (``_fovea_frames``) while its loss runs."""

    fovea_original_frame = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.reg_decoded_bbox:
            raise UserInputError(
                f"{type(self).__name__}: FOVEA's box loss compares unwarped decoded boxes with "
                "the original-frame GT; set reg_decoded_bbox=True (FOVEA: loss_bbox=dict(type="
                "'GIoULoss', ...))")
        self._fovea_frames = None


class FoveaAnchorHeadMixin(_OriginalFrameHeadMixin):
    """FOVEA's rule for an mmdet ``AnchorHead`` (goes first in the bases)."""

    def _get_targets_single(self, flat_anchors, valid_flags, gt_instances, img_meta,
                            gt_instances_ignore=None, unmap_outputs=True):
        assigner = self.assigner
        self.assigner = _OriginalFrameAssigner(assigner, _frame(img_meta, type(self).__name__))
        try:
            return super()._get_targets_single(flat_anchors, valid_flags, gt_instances, img_meta,
                                               gt_instances_ignore, unmap_outputs)
        finally:
            self.assigner = assigner

    def loss_by_feat(self, cls_scores, bbox_preds, batch_gt_instances, batch_img_metas,
                     batch_gt_instances_ignore=None):
        self._fovea_frames = [_frame(m, type(self).__name__) for m in batch_img_metas]
        try:
            return super().loss_by_feat(cls_scores, bbox_preds, batch_gt_instances,
                                        batch_img_metas, batch_gt_instances_ignore)
        finally:
            self._fovea_frames = None

    def loss_by_feat_single(self, cls_score, bbox_pred, anchors, labels, label_weights,
                            bbox_targets, bbox_weights, avg_factor):
        """One level: the classification loss as mmdet's; the box loss on unwarped boxes."""
        loss_cls = self.loss_cls(
            cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels),
            labels.reshape(-1), label_weights.reshape(-1), avg_factor=avg_factor)
        num = cls_score.shape[0]
        deltas = bbox_pred.permute(0, 2, 3, 1).reshape(num, -1, self.bbox_coder.encode_size)
        anchors = anchors.reshape(num, -1, anchors.size(-1))
        targets = bbox_targets.reshape(num, -1, bbox_targets.size(-1))
        weights = bbox_weights.reshape(num, -1, bbox_weights.size(-1))
        preds, kept_targets, kept_weights = [], [], []
        for i, frame in enumerate(self._fovea_frames):
            rows = weights[i].sum(-1) > 0
            decoded = get_box_tensor(self.bbox_coder.decode(anchors[i][rows], deltas[i][rows]))
            preds.append(frame.unwarp(decoded))
            kept_targets.append(targets[i][rows])
            kept_weights.append(weights[i][rows])
        pred = torch.cat(preds)
        if pred.shape[0] == 0:
            return loss_cls, bbox_pred.sum() * 0
        loss_bbox = self.loss_bbox(pred, torch.cat(kept_targets), torch.cat(kept_weights),
                                   avg_factor=avg_factor)
        return loss_cls, loss_bbox


@MODELS.register_module()
class FoveaRPNHead(FoveaAnchorHeadMixin, RPNHead):
    """RPN with FOVEA's unwarped-anchor assignment and unwarped box loss."""


@MODELS.register_module()
class FoveaRetinaHead(FoveaAnchorHeadMixin, RetinaHead):
    """RetinaNet's head with FOVEA's rule (FOVEA on a one-stage head; see the module doc)."""


class FoveaBBoxHeadMixin(_OriginalFrameHeadMixin):
    """FOVEA's box loss for an mmdet ``BBoxHead`` (goes first in the bases)."""

    def loss(self, cls_score, bbox_pred, rois, labels, label_weights, bbox_targets,
             bbox_weights, reduction_override=None):
        losses = super().loss(cls_score, None, rois, labels, label_weights, bbox_targets,
                              bbox_weights, reduction_override)
        if bbox_pred is None:
            return losses
        pos = (labels >= 0) & (labels < self.num_classes)
        if not pos.any():
            losses["loss_bbox"] = bbox_pred[pos].sum()
            return losses
        if self.reg_class_agnostic:
            deltas = bbox_pred.view(bbox_pred.size(0), -1)[pos]
        else:
            deltas = bbox_pred.view(bbox_pred.size(0), self.num_classes, -1)[pos, labels[pos]]
        decoded = get_box_tensor(self.bbox_coder.decode(rois[pos, 1:], deltas))
        images = rois[pos, 0].long()
        pred = torch.zeros_like(decoded)
        for i, frame in enumerate(self._fovea_frames):
            rows = images == i
            if rows.any():
                pred[rows] = frame.unwarp(decoded[rows])
        losses["loss_bbox"] = self.loss_bbox(
            pred, bbox_targets[pos], bbox_weights[pos], avg_factor=bbox_targets.size(0),
            reduction_override=reduction_override)
        return losses


@MODELS.register_module()
class FoveaShared2FCBBoxHead(FoveaBBoxHeadMixin, Shared2FCBBoxHead):
    """``Shared2FCBBoxHead`` whose box loss compares unwarped boxes with original-frame GT."""


@MODELS.register_module()
class FoveaStandardRoIHead(StandardRoIHead):
    """``StandardRoIHead`` assigning unwarped proposals, sampling and pooling zoomed ones."""

    fovea_original_frame = True

    def loss(self, x, rpn_results_list, batch_data_samples):
        owner = type(self).__name__
        if self.with_mask:
            raise UserInputError(f"{owner}: FOVEA maps boxes back, not masks; use a box-only "
                                 "RoI head")
        if getattr(self.bbox_sampler, "add_gt_as_proposals", False):
            raise UserInputError(
                f"{owner}: train_cfg.rcnn.sampler.add_gt_as_proposals must be False under "
                "FOVEA (the GT boxes are in the original frame, the proposals in the zoomed one)")
        gts, ignores, metas = unpack_gt_instances(batch_data_samples)
        frames = [_frame(m, owner) for m in metas]
        results = []
        for i, (proposals, frame) in enumerate(zip(rpn_results_list, frames, strict=True)):
            proposals.priors = proposals.pop("bboxes")
            with torch.no_grad():
                original = InstanceData(priors=frame.unwarp(get_box_tensor(proposals.priors)))
            assigned = self.bbox_assigner.assign(original, gts[i], ignores[i])
            results.append(self.bbox_sampler.sample(assigned, proposals, gts[i],
                                                    feats=[level[i][None] for level in x]))
        self.bbox_head._fovea_frames = frames
        try:
            return dict(self.bbox_loss(x, results)["loss_bbox"])
        finally:
            self.bbox_head._fovea_frames = None
