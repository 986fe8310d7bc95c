# LZU at 1x: 1600x900 images zoomed to (900, 1600) = (900, 1600) x 1.
_base_ = ['./_base_/lzu_fcos3d.py']

model = dict(grid_generator=dict(output_shape=(900, 1600)))
