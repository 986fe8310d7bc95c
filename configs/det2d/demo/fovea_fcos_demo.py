# 2-D demo, FOVEA: 1600x900 frames zoomed to 225x400 with a fixed saliency, a KDE of the
# synthetic training boxes (built by `sh run.sh demo det2d`; otherwise the 2-D family's zoom,
# argoverse_grid_generator in ../_base_/argoverse_hd.py); the detector runs in the zoomed frame
# and its boxes are unwarped into the frame.
_base_ = ['./fcos_demo_base.py']

model = dict(
    type='FoveaFCOS',
    grid_generator=dict(_base_.argoverse_grid_generator,
                        saliency_file='work_dirs/demo_det2d/saliency.pkl',
                        output_shape=(225, 400)))
