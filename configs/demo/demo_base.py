# `sh run.sh demo`: the paper's FCOS3D pipeline, shrunk to train in minutes on a
# CPU on the synthetic nuScenes-format set (work_dirs/demo/data, v1.0-mini).
# Same data path, Runner, head, losses and NuScenesMetric as the experiments;
# only the network is small (ResNet-18, no DCN, 64-channel FPN and head,
# trainable BN from random init: no weights can be downloaded) and the
# schedule is a fixed number of iterations.
# The pipeline pieces (load_image, ..., pack_test) come from the uniform base.
_base_ = ['../_base_/fcos3d_uniform.py']

data_root = 'work_dirs/demo/data/'
metainfo = dict(_base_.metainfo, version='v1.0-mini')  # the 10 nuScenes classes

model = dict(
    backbone=dict(
        depth=18,
        dcn=None,
        stage_with_dcn=(False, False, False, False),
        style='pytorch',
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(
        in_channels=64,
        feat_channels=64,
        stacked_convs=1,
        cls_branch=(64, ),
        reg_branch=((64, ), (64, ), (64, ), (64, ), ()),
        dir_branch=(64, ),
        attr_branch=(64, ),
        dcn_on_last_conv=False,
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)),
    test_cfg=dict(score_thr=0.02, max_per_img=100))

max_iters = 300
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root, metainfo=metainfo))
val_evaluator = dict(
    data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator

train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=0.01))
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
