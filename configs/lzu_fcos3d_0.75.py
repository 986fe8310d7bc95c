# LZU at 0.75x: 1600x900 images zoomed to (675, 1200) = (900, 1600) x 0.75.
_base_ = ['./_base_/lzu_fcos3d.py']

model = dict(grid_generator=dict(output_shape=(675, 1200)))
