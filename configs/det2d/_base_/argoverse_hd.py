# Argoverse-HD in its own layout: frames under Argoverse-1.1/tracking/, COCO-style json
# with 8 classes under Argoverse-HD/annotations/ (DATA_ROOT / --data-root moves the root).
# Scored by mmdet's CocoMetric (pycocotools): AP, AP50, AP75, AP_small/medium/large.
# Family bases pick the argoverse_* entries up with {{_base_.argoverse_*}}.
# argoverse_grid_generator is the LZU families' zoom: a fixed saliency (a KDE of the training
# boxes: tools/make_saliency.py --coco) with the nuScenes sampler settings, since the LZU paper
# does not publish its Argoverse-HD zoom settings (FOVEA's released ones differ: 31x51, fwhm 4;
# see docs/det2d_methods.md); children set output_shape.
custom_imports = dict(imports=['lzu.openmmlab'], allow_failed_imports=False)

argoverse_root = 'data/argoverse/'
argoverse_classes = ('person', 'bicycle', 'car', 'motorcycle', 'bus', 'truck', 'traffic_light',
                     'stop_sign')
load_image = dict(type='LoadImageFromFile')
load_annotations = dict(type='LoadAnnotations', with_bbox=True)
flip = dict(type='RandomFlip', prob=0.5)
pack_train = dict(type='PackDetInputs')
pack_test = dict(
    type='PackDetInputs',
    meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
argoverse_train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='ArgoverseHDDataset',
        data_root=argoverse_root,
        ann_file='Argoverse-HD/annotations/train.json',
        data_prefix=dict(img='Argoverse-1.1/tracking/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=[load_image, load_annotations, flip, pack_train]))
argoverse_val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ArgoverseHDDataset',
        data_root=argoverse_root,
        ann_file='Argoverse-HD/annotations/val.json',
        data_prefix=dict(img='Argoverse-1.1/tracking/'),
        test_mode=True,
        pipeline=[load_image, load_annotations, pack_test]))
argoverse_evaluator = dict(
    type='CocoMetric',
    ann_file=argoverse_root + 'Argoverse-HD/annotations/val.json',
    metric='bbox',
    classwise=True)
argoverse_grid_generator = dict(
    type='FixedGrid',
    saliency_file='data/argoverse/saliency_kde.pkl',
    output_shape=(1200, 1920),
    grid_shape=(27, 48),
    separable=True,
    attraction_fwhm=10,
    anti_crop=True)
# Adaptive zoom (FOVEA's temporal saliency / adaptive LZU): one saliency per frame, a KDE of
# the previous frame's boxes mixed with the dataset prior (lzu/openmmlab/video_saliency.py).
# The video models need each frame's sequence id and index (and, in training, the previous
# frame's GT boxes) in the metainfo, and val/test frames in sequence order.
argoverse_adaptive_grid_generator = dict(
    type='AdaptiveGrid',
    output_shape=(1200, 1920),
    grid_shape=(27, 48),
    separable=True,
    attraction_fwhm=10,
    anti_crop=True)
argoverse_adaptive_saliency = dict(
    prior_file='data/argoverse/saliency_kde.pkl',
    prior_weight=0.2,
    bandwidth=64.0,
    amplitude=1.0,
    score_thr=0.3,
    train_source='previous_gt',
    jitter=0.05)
pack_train_video = dict(
    type='PackDetInputs',
    meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
               'flip_direction', 'sid', 'fid', 'prev_gt_bboxes'))
pack_test_video = dict(
    type='PackDetInputs',
    meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'sid', 'fid'))
argoverse_video_sampler = dict(_delete_=True, type='SequenceOrderSampler')
