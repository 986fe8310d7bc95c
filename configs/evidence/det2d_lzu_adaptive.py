# Evidence benchmark, det2d, adaptive LZU: each frame zoomed as for adaptive FOVEA
# (./det2d_fovea_adaptive.py: the same per-frame saliency, grid and output shape), and the model
# unzooms every FPN level instead of unwarping boxes. Same network and schedule as
# ./det2d_uniform.py; the module sets output_shape, the prior file and the seed.
_base_ = ['./det2d_fovea_adaptive.py']

model = dict(type='LZUFCOS', unzoom_border='exact')
