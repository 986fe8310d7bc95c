# FOVEA's training path (./fovea_faster_rcnn_r50_fpn.py) with LZU's fixed zoom
# (argoverse_grid_generator in ./argoverse_hd.py) and LZU's schedule; a child sets output_shape.
_base_ = ['./fovea_faster_rcnn_r50_fpn.py']

model = dict(grid_generator={{_base_.argoverse_grid_generator}})
