# Evidence benchmark, 3-D, LZU: the 800 x 450 frame zoomed to output_shape (H, W) with the
# saliency of the synthetic training boxes (tools/make_saliency.py, built by
# lzu/apis/evidence/det3d.py), features unzoomed; the same output size as the uniform cell.
_base_ = ['./det3d_base.py']

model = dict(
    type='LZUFCOSMono3D',
    unzoom_border='exact',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='work_dirs/evidence/det3d/saliency.pkl',
        output_shape=(112, 200),
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.flip}}, {{_base_.pack_train}}
]))
test_dataloader = dict(dataset=dict(pipeline=[{{_base_.load_image}}, {{_base_.pack_test}}]))
