# 2-D demo, LZU: 1600x900 frames zoomed to 225x400 with a KDE of the synthetic training
# boxes (built by `sh run.sh demo det2d`); each image's own region, flips followed.
_base_ = ['./fcos_demo_base.py']

model = dict(
    type='LZUFCOS',
    unzoom_border='exact',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='work_dirs/demo_det2d/saliency.pkl',
        output_shape=(225, 400),
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
