# LZU on Faster R-CNN R50-FPN: full-resolution frames are zoomed to output_shape with a fixed
# saliency (argoverse_grid_generator in ./argoverse_hd.py), every FPN level is unzoomed;
# a child sets model.grid_generator.output_shape.
_base_ = ['./faster_rcnn_r50_fpn.py']

model = dict(type='LZUFasterRCNN', grid_generator={{_base_.argoverse_grid_generator}})
