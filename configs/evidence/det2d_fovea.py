# Evidence benchmark, det2d, FOVEA (box unwarping, Thavamani et al. 2021): the frame is zoomed
# to grid_generator.output_shape with the same saliency as LZU, the detector runs in the zoomed
# frame and its boxes are unwarped to the frame (lzu/openmmlab/fovea_mixin.py). Same network
# and schedule as ./det2d_uniform.py.
_base_ = ['./det2d_uniform.py']

model = dict(
    type='FoveaFCOS',
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
