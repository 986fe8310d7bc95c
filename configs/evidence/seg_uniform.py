# Evidence benchmark (tools/evidence.py, task seg): FCN shrunk to learn in about a minute on a
# CPU: ResNetV1c-18 at a quarter width (16 base channels), output stride 16 (the last stage
# dilated by 2: D8's stride-8 stages cost 3x more on 2 cores), 32-channel heads, BN from random
# init, no photometric distortion. Uniform: the whole 512x288 frame (street-scene Cityscapes layout,
# lzu/data/synthetic/cityscapes_writer.py) resized to `size` (H, W); lzu/apis/evidence/seg.py sets
# the data root, the size, the schedule length and the seed. Scored by PerClassIoUMetric
# (mmseg's IoUMetric plus IoU.<class>) at the frames' full resolution.
_base_ = ['../seg/_base_/fcn_r50-d8_cityscapes.py']

data_root = 'work_dirs/evidence/seg/data/'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(depth=18, base_channels=16, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
                  norm_cfg=norm_cfg),
    decode_head=dict(in_channels=128, channels=32, num_convs=1, concat_input=False,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=64, channels=16, norm_cfg=norm_cfg))
size = (72, 128)
resize = dict(type='Resize', scale=size[::-1], keep_ratio=False)
model.update(data_preprocessor=dict(size=size, size_divisor=None))
max_iters = 400
train_pipeline = [{{_base_.load_image}}, {{_base_.load_annotations}}, resize, {{_base_.flip}},
                  {{_base_.pack}}]
test_pipeline = [{{_base_.load_image}}, resize, {{_base_.load_annotations}}, {{_base_.pack}}]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=-1, save_last=False),
    visualization=dict(draw=False))
randomness = dict(seed=0)
