# Evidence benchmark (lzu/apis/evidence/det3d.py), monocular 3-D: FCOS3D shrunk to learn in about a
# minute on 2 CPU cores, on the synthetic nuScenes-format set at 800 x 450 (full resolution of
# this task). Same data path, head, losses and NuScenesMetric (nuscenes-devkit) as the
# experiments; only the network is small (ResNet-18 at base width 16, no DCN, 32-channel FPN
# and head, trainable BN from random init) and the schedule is a fixed number of iterations.
# The task module sets the data root, the scale (resize / output_shape), iterations and seed.
_base_ = ['../_base_/fcos3d_uniform.py']

data_root = 'work_dirs/evidence/det3d/data/'
metainfo = dict(_base_.metainfo, version='v1.0-mini')  # the 10 nuScenes classes
full_size = (800, 450)  # (W, H) of the synthetic images

width = 32
model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        dcn=None,
        stage_with_dcn=(False, False, False, False),
        style='pytorch',
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    # three FPN levels (strides 8-32): at 200 x 112 to 400 x 225 the two coarsest of FCOS3D's
    # five levels are 2-4 cells wide, and every object fits the first ranges
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=width, num_outs=3),
    bbox_head=dict(
        strides=[8, 16, 32],
        regress_ranges=((-1, 48), (48, 96), (96, 1e8)),
        in_channels=width,
        feat_channels=width,
        stacked_convs=1,
        cls_branch=(width, ),
        reg_branch=((width, ), (width, ), (width, ), (width, ), ()),
        dir_branch=(width, ),
        attr_branch=(width, ),
        dcn_on_last_conv=False,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True)),
    test_cfg=dict(score_thr=0.02, max_per_img=100))

max_iters = 200
# one process, no workers: the data order is the seed's alone, and nothing competes for the cores
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, metainfo=metainfo))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader
val_evaluator = dict(data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator

train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters + 1)
val_cfg = None
val_dataloader = None
val_evaluator = None
# AdamW: from random init, SGD (the paper's optimizer, for pretrained backbones) reaches
# NDS 0 in this budget; AdamW at 2e-3 learns (docs/evidence_reading.md)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=0.002, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.8)], gamma=0.1)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=25)
randomness = dict(seed=0)
