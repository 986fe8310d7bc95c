# FCN R50-D8 (mmseg 1.2.2's own model, runtime and 80k schedule) on Cityscapes, trained on
# WHOLE frames: a fixed saliency is defined on the whole 2048x1024 frame, so neither family
# takes mmseg's random crops (RandomResize + RandomCrop); the uniform family resizes the whole
# frame to a square, the LZU family zooms it to the same square; both flip at random. The setup (uniform vs LZU at
# 64^2, 128^2, 256^2 and 512^2 with a boundary saliency) is reconstructed from a secondary
# summary of the paper, whose segmentation code was never released: see docs/segmentation.md.
# Scored by PerClassIoUMetric: mmseg's IoUMetric, also returning IoU.<class> for each class.
# Cityscapes paths are under data_root (DATA_ROOT / --data-root moves it).
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py', 'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py'
]
custom_imports = dict(imports=['lzu.openmmlab'], allow_failed_imports=False)

data_root = 'data/cityscapes/'
load_image = dict(type='LoadImageFromFile')
load_annotations = dict(type='LoadAnnotations')
flip = dict(type='RandomFlip', prob=0.5)
photometric = dict(type='PhotoMetricDistortion')
pack = dict(type='PackSegInputs')
# whole frames at full resolution (what LZU zooms); the uniform family inserts its Resize
train_pipeline = [load_image, load_annotations, flip, photometric, pack]
test_pipeline = [load_image, load_annotations, pack]
# frames of one size are batched as they are (no padding to a crop size)
model = dict(data_preprocessor=dict(size=None, size_divisor=1))
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
