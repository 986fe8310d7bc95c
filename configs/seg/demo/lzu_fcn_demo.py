# Segmentation demo, LZU: 1024x512 frames zoomed to 128x128 with the boundary saliency of the
# synthetic training labels (built by `sh run.sh demo seg`); flips followed.
_base_ = ['./fcn_demo_base.py']

model = dict(
    type='LZUEncoderDecoder',
    unzoom_border='exact',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='work_dirs/demo_seg/saliency.pkl',
        output_shape=(128, 128),
        grid_shape=(32, 32),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
