# Segmentation demo, uniform: 1024x512 frames resized to 128x128 by mmseg's Resize.
_base_ = ['./fcn_demo_base.py']

size = (128, 128)
resize = dict(type='Resize', scale=size[::-1], keep_ratio=False)
model = dict(data_preprocessor=dict(size=size, size_divisor=None))
train_pipeline = [
    {{_base_.load_image}}, {{_base_.load_annotations}}, resize, {{_base_.flip}}, {{_base_.pack}}
]
test_pipeline = [{{_base_.load_image}}, resize, {{_base_.load_annotations}}, {{_base_.pack}}]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
