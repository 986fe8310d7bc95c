# Adaptive FOVEA (FOVEA's training path) on Faster R-CNN R50-FPN at adaptive LZU's settings
# (27x48, fwhm 10, prior mix 0.2, previous-frame GT in training) and LZU's schedule: the
# like-for-like comparison with lzu_adaptive_faster_rcnn_0.50.py. FOVEA's own settings:
# fovea_kde_si_faster_rcnn_0.50.py / fovea_kde_sc_faster_rcnn_0.50.py.
_base_ = ['./_base_/fovea_lzugrid_adaptive_faster_rcnn_r50_fpn.py']

model = dict(grid_generator=dict(output_shape=(600, 960)))
