# ./fovea_kde_faster_rcnn_r50_fpn.py with per-frame saliencies (lzu/openmmlab/video_saliency.py):
# val/test frames in sequence order (SequenceOrderSampler), zoomed on the previous frame's
# detections. A child sets model.grid_generator and model.adaptive_saliency.
_base_ = ['./fovea_kde_faster_rcnn_r50_fpn.py']

train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.flip}},
    {{_base_.pack_train_video}}
]))
val_dataloader = dict(
    sampler={{_base_.argoverse_video_sampler}},
    dataset=dict(pipeline=[
        {{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.pack_test_video}}
    ]))
test_dataloader = val_dataloader
