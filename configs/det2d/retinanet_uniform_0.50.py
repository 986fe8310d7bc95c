# RetinaNet R50-FPN, uniform downsampling: 1920x1200 frames resized by 0.5.
_base_ = ['./_base_/retinanet_r50_fpn.py']

resize = dict(type='Resize', scale=(960, 600), keep_ratio=True)
train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, resize, {{_base_.flip}},
    {{_base_.pack_train}}
]))
val_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, resize, {{_base_.load_annotations}}, {{_base_.pack_test}}
]))
test_dataloader = val_dataloader
