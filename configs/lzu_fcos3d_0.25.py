# LZU at 0.25x: 1600x900 images zoomed to (225, 400) = (900, 1600) x 0.25.
_base_ = ['./_base_/lzu_fcos3d.py']

model = dict(grid_generator=dict(output_shape=(225, 400)))
