# Adaptive FOVEA on FCOS R50 (caffe) FPN, GN head: each frame is zoomed as for adaptive LZU
# (./lzu_adaptive_fcos_r50_fpn.py: its own saliency, a KDE of the previous frame's boxes mixed
# with the dataset prior; val/test frames in sequence order); the detector runs in the zoomed
# frame and its boxes are unwarped. A child sets model.grid_generator.output_shape.
_base_ = ['./lzu_adaptive_fcos_r50_fpn.py']

model = dict(type='FoveaFCOS')
