# Adaptive LZU on FCOS R50 (caffe) FPN, GN head: each frame is zoomed to output_shape with its own
# saliency, a KDE of the previous frame's boxes mixed with the dataset prior (argoverse_adaptive_*
# in ./argoverse_hd.py; lzu/openmmlab/video_saliency.py); every FPN level is unzoomed. Training:
# the previous frame's GT boxes, jittered; val/test: the previous frame's detections, frames in
# sequence order (SequenceOrderSampler). A child sets model.grid_generator.output_shape.
_base_ = ['./fcos_r50_fpn.py']

model = dict(
    type='LZUFCOS',
    grid_generator={{_base_.argoverse_adaptive_grid_generator}},
    adaptive_saliency={{_base_.argoverse_adaptive_saliency}})
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
