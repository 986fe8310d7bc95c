# `sh run.sh demo det2d`: the 2-D path (Argoverse-HD layout, mmdet FCOS, CocoMetric) shrunk
# to train in minutes on a CPU on the synthetic set (work_dirs/demo_det2d/data): ResNet-18,
# 64-channel FPN and head, trainable BN from random init (no weights can be downloaded),
# a fixed number of iterations. Only the network and schedule differ from the family base.
_base_ = ['../_base_/fcos_r50_fpn.py']

data_root = 'work_dirs/demo_det2d/data/'
model = dict(
    backbone=dict(
        depth=18,
        style='pytorch',
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(in_channels=64, feat_channels=64, stacked_convs=1,
                   norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)),
    test_cfg=dict(score_thr=0.05, max_per_img=100))

max_iters = 100
train_dataloader = dict(batch_size=4, num_workers=2, dataset=dict(data_root=data_root))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'Argoverse-HD/annotations/val.json')
test_evaluator = val_evaluator
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=0.01), clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=2))
log_processor = dict(by_epoch=False, window_size=10)
randomness = dict(seed=0)
