# Evidence benchmark, 3-D, uniform: the 800 x 450 frame resized to `output_size` (W, H) in
# training and test (lzu/apis/evidence/det3d.py sets it per scale).
_base_ = ['./det3d_base.py']

output_size = (200, 112)
resize = dict(type='Resize3D', scale=output_size, keep_ratio=False)
train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, resize, {{_base_.flip}},
    {{_base_.pack_train}}
]))
test_dataloader = dict(dataset=dict(pipeline=[{{_base_.load_image}}, resize, {{_base_.pack_test}}]))
