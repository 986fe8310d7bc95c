# FCN R50-D8 on Cityscapes, uniform: whole 2048x1024 frames resized to 256x256.
_base_ = ['./_base_/fcn_r50-d8_uniform.py']

size = (256, 256)  # (H, W); the lines below are the same for every size
resize = dict(type='Resize', scale=size[::-1], keep_ratio=False)
model = dict(data_preprocessor=dict(size=size, size_divisor=None))
train_pipeline = [resize if t['type'] == 'Resize' else t for t in _base_.train_pipeline]
test_pipeline = [resize if t['type'] == 'Resize' else t for t in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
