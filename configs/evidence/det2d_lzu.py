# Evidence benchmark, det2d, LZU: the frame zoomed as for FOVEA (./det2d_fovea.py: the same
# saliency, grid and output shape), and the model unzooms every FPN level instead of unwarping
# boxes. Same network and schedule as ./det2d_uniform.py; the module sets output_shape, the
# saliency file and the seed.
_base_ = ['./det2d_fovea.py']

model = dict(type='LZUFCOS', unzoom_border='exact')
