# LZU family: full-resolution frames go to the model, which zooms each to
# grid_generator.output_shape with a fixed saliency of the training set's class boundaries
# (tools/make_saliency.py --seg-labels <data_root>/gtFine/train), unzooms every feature level
# and hands the heads features laid out like the uniformly resized frame (see
# lzu/openmmlab/segmentor_mixin.py). Flipped frames use the flipped saliency. A child sets
# model.grid_generator.output_shape: one line per size.
_base_ = ['./fcn_r50-d8_cityscapes.py']

model = dict(
    type='LZUEncoderDecoder',
    unzoom_border='exact',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='data/cityscapes/saliency_boundary.pkl',
        output_shape=(512, 512),
        grid_shape=(32, 32),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
