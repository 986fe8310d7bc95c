# Adaptive FOVEA's training path (./fovea_adaptive_faster_rcnn_r50_fpn.py) with adaptive LZU's
# zoom and saliency settings (argoverse_adaptive_* in ./argoverse_hd.py) and LZU's schedule; a
# child sets output_shape.
_base_ = ['./fovea_adaptive_faster_rcnn_r50_fpn.py']

model = dict(grid_generator={{_base_.argoverse_adaptive_grid_generator}},
             adaptive_saliency={{_base_.argoverse_adaptive_saliency}})
