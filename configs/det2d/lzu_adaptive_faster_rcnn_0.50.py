# Adaptive LZU on Faster R-CNN R50-FPN: 1920x1200 frames zoomed to 0.5 scale, saliency from the previous frame.
_base_ = ['./_base_/lzu_adaptive_faster_rcnn_r50_fpn.py']

model = dict(grid_generator=dict(output_shape=(600, 960)))
