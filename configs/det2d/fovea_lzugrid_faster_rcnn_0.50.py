# FOVEA's training path on Faster R-CNN R50-FPN at LZU's zoom (LZU's fixed saliency, 27x48
# lattice, fwhm 10) and LZU's schedule: the like-for-like comparison with lzu_faster_rcnn_0.50.py.
# 1920x1200 frames zoomed to 0.5 scale. FOVEA's own settings: fovea_kde_sd_faster_rcnn_0.50.py.
_base_ = ['./_base_/fovea_lzugrid_faster_rcnn_r50_fpn.py']

model = dict(grid_generator=dict(output_shape=(600, 960)))
