# Demo LZU at 0.25x: 1600x900 images zoomed to (225, 400) with the saliency of
# the synthetic training boxes (built by `sh run.sh demo`).
_base_ = ['./demo_base.py']

model = dict(
    type='LZUFCOSMono3D',
    # the true inverse ('paper': the released code's border, as the paper configs use)
    unzoom_border='exact',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='work_dirs/demo/saliency.pkl',
        output_shape=(225, 400),
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
