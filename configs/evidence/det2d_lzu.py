# Evidence benchmark, det2d, LZU: the full-resolution 512x288 frame goes to the model, which
# zooms it to grid_generator.output_shape with a KDE of the training boxes (tools/make_saliency.py
# --coco, built by lzu/apis/evidence/det2d.py) and unzooms every FPN level. Same network and
# schedule as ./det2d_uniform.py; the module sets output_shape, the saliency file and the seed.
_base_ = ['./det2d_uniform.py']

model = dict(
    type='LZUFCOS',
    unzoom_border='exact',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='work_dirs/evidence/det2d/saliency.pkl',
        output_shape=(144, 256),
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.flip}}, {{_base_.pack_train}}
]))
val_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.pack_test}}
]))
test_dataloader = val_dataloader
