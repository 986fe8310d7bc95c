# Uniform baseline at 0.5x: images resized to (1600, 900) x 0.5 = (800, 450).
_base_ = ['./_base_/fcos3d_uniform.py']

resize = dict(type='Resize3D', scale=(800, 450), keep_ratio=True)
train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, resize, {{_base_.flip}},
    {{_base_.pack_train}}
]))
val_dataloader = dict(dataset=dict(pipeline=[{{_base_.load_image}}, resize, {{_base_.pack_test}}]))
test_dataloader = val_dataloader
