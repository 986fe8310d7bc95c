# Demo uniform baseline at 0.25x: images resized to (400, 225).
_base_ = ['./demo_base.py']

resize = dict(type='Resize3D', scale=(400, 225), keep_ratio=True)
train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, resize, {{_base_.flip}},
    {{_base_.pack_train}}
]))
val_dataloader = dict(dataset=dict(pipeline=[{{_base_.load_image}}, resize, {{_base_.pack_test}}]))
test_dataloader = val_dataloader
