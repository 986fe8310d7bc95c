# FCN R50-D8 + LZU on Cityscapes: whole 2048x1024 frames zoomed to 256x256 (boundary saliency).
_base_ = ['./_base_/lzu_fcn_r50-d8.py']

model = dict(grid_generator=dict(output_shape=(256, 256)))
