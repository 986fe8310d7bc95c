# Faster R-CNN R50-FPN (mmdet 3.3's own config, 1x schedule) on Argoverse-HD's 8 classes.
# Children set the input scale (uniform: one Resize line) or the zoom (LZU: one output_shape line).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', './argoverse_hd.py']

model = dict(roi_head=dict(bbox_head=dict(num_classes=8)))
train_dataloader = {{_base_.argoverse_train_dataloader}}
val_dataloader = {{_base_.argoverse_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.argoverse_evaluator}}
test_evaluator = val_evaluator
