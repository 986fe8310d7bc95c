# LZU on RetinaNet R50-FPN: 1920x1200 frames zoomed to 0.5 scale.
_base_ = ['./_base_/lzu_retinanet_r50_fpn.py']

model = dict(grid_generator=dict(output_shape=(600, 960)))
