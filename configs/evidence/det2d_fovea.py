# Evidence benchmark, det2d, FOVEA (box unwarping, Thavamani et al. 2021): the full-resolution
# 512x288 frame is zoomed to grid_generator.output_shape with a KDE of the training boxes
# (tools/make_saliency.py --coco, built by lzu/apis/evidence/det2d.py; otherwise the 2-D
# family's zoom, argoverse_grid_generator in ../det2d/_base_/argoverse_hd.py), the detector runs
# in the zoomed frame and its boxes are unwarped to the frame (lzu/openmmlab/fovea_mixin.py).
# Same network and schedule as ./det2d_uniform.py; the module sets output_shape, the saliency
# file and the seed.
_base_ = ['./det2d_uniform.py']

model = dict(
    type='FoveaFCOS',
    grid_generator=dict(_base_.argoverse_grid_generator,
                        saliency_file='work_dirs/evidence/det2d/saliency.pkl',
                        output_shape=(144, 256)))
train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.flip}}, {{_base_.pack_train}}
]))
val_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_image}}, {{_base_.load_annotations}}, {{_base_.pack_test}}
]))
test_dataloader = val_dataloader
