# Uniform family: the whole frame resized to `size` (H, W) by mmseg's Resize (keep_ratio=False)
# in the pipeline; logits come back to 2048x1024 through mmseg's postprocessing. A child sets
# `size` and swaps in its Resize (the same lines for every other size; this base is the 512x512
# one, ../fcn_r50-d8_uniform_512x512.py).
_base_ = ['./fcn_r50-d8_cityscapes.py']

size = (512, 512)
resize = dict(type='Resize', scale=size[::-1], keep_ratio=False)
model = dict(data_preprocessor=dict(size=size, size_divisor=None))
train_pipeline = [
    {{_base_.load_image}}, {{_base_.load_annotations}}, resize, {{_base_.flip}},
    {{_base_.photometric}}, {{_base_.pack}}
]
test_pipeline = [{{_base_.load_image}}, resize, {{_base_.load_annotations}}, {{_base_.pack}}]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
