# FOVEA (Thavamani et al. 2021) on FCOS R50 (caffe) FPN, GN head: full-resolution frames are zoomed to
# output_shape with the same fixed saliency as LZU (argoverse_grid_generator in ./argoverse_hd.py),
# the detector runs in the zoomed frame and its boxes are unwarped (lzu/openmmlab/fovea_mixin.py);
# a child sets model.grid_generator.output_shape.
_base_ = ['./fcos_r50_fpn.py']

model = dict(type='FoveaFCOS', grid_generator={{_base_.argoverse_grid_generator}})
