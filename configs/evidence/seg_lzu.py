# Evidence benchmark, seg, LZU: the full-resolution 512x288 frame goes to the model, which zooms
# it to grid_generator.output_shape with the boundary saliency of the training labels
# (tools/make_saliency.py --seg-labels, built by lzu/apis/evidence/seg.py) and unzooms every
# feature level. Same network and schedule as ./seg_uniform.py.
_base_ = ['./seg_uniform.py']

model = dict(
    type='LZUEncoderDecoder',
    data_preprocessor=dict(size=None, size_divisor=1),
    unzoom_border='exact',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='work_dirs/evidence/seg/saliency.pkl',
        output_shape=(72, 128),
        grid_shape=(32, 32),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
train_pipeline = [{{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.flip}},
                  {{_base_.pack}}]
test_pipeline = [{{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.pack}}]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
