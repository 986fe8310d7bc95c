# Evidence benchmark, det2d, adaptive FOVEA: each frame is zoomed to grid_generator.output_shape
# with its own saliency, a KDE of the previous frame's boxes mixed with the dataset prior (the
# KDE of the training boxes that ./det2d_fovea.py uses; lzu/openmmlab/video_saliency.py); the
# model runs the detector in the zoomed frame and unwarps its boxes. Training: the previous
# frame's GT boxes, jittered; test: the previous frame's detections, frames in sequence order
# (SequenceOrderSampler). The networks of this budget score low, so detections steer the zoom
# from score 0.2 (as the 2-D demo; configs/det2d: 0.3) and the KDE's bandwidth is FOVEA's 64 px
# at 1920 px scaled to the 512 px frame; the rest is the 2-D family's adaptive zoom
# (argoverse_adaptive_* in ../det2d/_base_/argoverse_hd.py). Same network and schedule as
# ./det2d_uniform.py; the module sets output_shape, the prior file and the seed.
_base_ = ['./det2d_uniform.py']

model = dict(
    type='FoveaFCOS',
    grid_generator=dict(_base_.argoverse_adaptive_grid_generator, output_shape=(144, 256)),
    adaptive_saliency=dict(_base_.argoverse_adaptive_saliency,
                           prior_file='work_dirs/evidence/det2d/saliency_full.pkl',
                           bandwidth=17.0, score_thr=0.2))
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
