# 2-D demo, adaptive LZU: 1600x900 frames zoomed to 225x400, each with its own saliency: a KDE
# of the previous frame's detections (training: the previous frame's GT boxes, jittered) mixed
# with the demo's dataset KDE (work_dirs/demo_det2d/saliency.pkl); every FPN level is unzoomed.
# Val frames in sequence order (SequenceOrderSampler). The untrained-for-long demo model scores
# low, so its detections steer the zoom from score 0.2 (configs/det2d: 0.3); the rest of the zoom
# and saliency settings are configs/det2d's (argoverse_adaptive_* in ../_base_/argoverse_hd.py).
_base_ = ['./fcos_demo_base.py']

model = dict(
    type='LZUFCOS',
    grid_generator=dict(_base_.argoverse_adaptive_grid_generator, output_shape=(225, 400)),
    adaptive_saliency=dict(_base_.argoverse_adaptive_saliency,
                           prior_file='work_dirs/demo_det2d/saliency.pkl', score_thr=0.2))
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
