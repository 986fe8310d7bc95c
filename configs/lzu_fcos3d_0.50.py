# LZU at 0.5x: 1600x900 images zoomed to (450, 800) = (900, 1600) x 0.5.
_base_ = ['./_base_/lzu_fcos3d.py']

model = dict(grid_generator=dict(output_shape=(450, 800)))
