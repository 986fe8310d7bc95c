# 2-D demo, uniform baseline: 1600x900 frames resized by 0.25 to 400x225.
_base_ = ['./fcos_demo_base.py']

resize = dict(type='Resize', scale=(400, 225), keep_ratio=True)
train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, resize, {{_base_.flip}},
    {{_base_.pack_train}}
]))
val_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, resize, {{_base_.load_annotations}}, {{_base_.pack_test}}
]))
test_dataloader = val_dataloader
