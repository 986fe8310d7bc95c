# `sh run.sh demo seg`: the segmentation path (Cityscapes layout, mmseg FCN, IoUMetric) shrunk
# to train in minutes on a CPU on the synthetic set (work_dirs/demo_seg/data, 1024x512 frames):
# ResNetV1c-18 D8 at half width (32 base channels), 64-channel heads, BN from random init (no
# weights can be downloaded), no photometric distortion, a fixed number of iterations. Only
# the network, the training pipeline and the schedule differ from the family base.
_base_ = ['../_base_/fcn_r50-d8_cityscapes.py']

data_root = 'work_dirs/demo_seg/data/'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(depth=18, base_channels=32, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=256, channels=64, num_convs=1, concat_input=False,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=32, norm_cfg=norm_cfg))
max_iters = 200
train_pipeline = [{{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.flip}}, {{_base_.pack}}]
train_dataloader = dict(batch_size=8, num_workers=2,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(draw=False))
randomness = dict(seed=0)
