# FOVEA (Thavamani et al. 2021) on Faster R-CNN R50-FPN, trained as FOVEA's released code
# trains it (lzu/openmmlab/fovea_heads.py): the full-resolution frame is zoomed before the
# backbone with no padding before the zoom (the zoomed canvas is padded to 32); the GT stays
# in the original frame; anchors and proposals are unwarped for assignment only; decoded boxes
# are unwarped before a GIoU loss (weight 1 RPN, 10 RoI head); no GT added as proposals; at
# test time boxes are decoded, clipped and NMS'd in the zoomed frame, then unwarped.
# A child sets model.grid_generator (and, adaptive, model.adaptive_saliency).
_base_ = ['./faster_rcnn_r50_fpn.py']

model = dict(
    type='FoveaFasterRCNN',
    gt_frame='original',
    pad_size_divisor=32,
    data_preprocessor=dict(pad_size_divisor=1),
    rpn_head=dict(
        type='FoveaRPNHead',
        reg_decoded_bbox=True,
        loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=1.0)),
    roi_head=dict(
        type='FoveaStandardRoIHead',
        bbox_head=dict(
            type='FoveaShared2FCBBoxHead',
            reg_decoded_bbox=True,
            loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=10.0))),
    train_cfg=dict(
        rpn_proposal=dict(min_bbox_size=-1),
        rcnn=dict(sampler=dict(add_gt_as_proposals=False))),
    test_cfg=dict(rpn=dict(min_bbox_size=-1)))
