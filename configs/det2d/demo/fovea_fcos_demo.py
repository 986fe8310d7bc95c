# 2-D demo, FOVEA: 1600x900 frames zoomed to 225x400 with the same fixed saliency as LZU (a KDE
# of the synthetic training boxes, built by `sh run.sh demo det2d`); the detector runs in the
# zoomed frame and its boxes are unwarped into the frame.
_base_ = ['./fcos_demo_base.py']

model = dict(
    type='FoveaFCOS',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='work_dirs/demo_det2d/saliency.pkl',
        output_shape=(225, 400),
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
