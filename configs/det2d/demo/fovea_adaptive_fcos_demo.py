# 2-D demo, adaptive FOVEA: 1600x900 frames zoomed to 225x400, each with its own saliency: a KDE
# of the previous frame's detections (training: the previous frame's GT boxes, jittered) mixed
# with the demo's dataset KDE (work_dirs/demo_det2d/saliency.pkl); boxes are unwarped.
# Val frames in sequence order (SequenceOrderSampler). The untrained-for-long demo model scores
# low, so its detections steer the zoom from score 0.2 (configs/det2d: 0.3).
_base_ = ['./fcos_demo_base.py']

model = dict(
    type='FoveaFCOS',
    grid_generator=dict(
        type='AdaptiveGrid',
        output_shape=(225, 400),
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True),
    adaptive_saliency=dict(
        prior_file='work_dirs/demo_det2d/saliency.pkl',
        prior_weight=0.2,
        bandwidth=64.0,
        amplitude=1.0,
        score_thr=0.2,
        train_source='previous_gt',
        jitter=0.05))
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
