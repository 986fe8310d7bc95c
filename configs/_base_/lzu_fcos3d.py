# LZU: images stay at 1600x900; the model zooms them to output_shape with a
# fixed saliency (the paper's settings below) and unzooms every FPN level.
# A child sets only model.grid_generator.output_shape = (900 s, 1600 s).
# saliency.pkl at the repository root is the paper's own file (MIT, see NOTICE).
_base_ = ['./fcos3d_r50-dcn_nus-mono3d.py']

model = dict(
    type='LZUFCOSMono3D',
    # the released code's inverse grid, border included ('exact': the true inverse)
    unzoom_border='paper',
    # the released code zooms the whole padded batch and unzooms whole padded levels
    # ('image': each image's own region), and ignores flips (saliency symmetric to 0.85 %)
    zoom_region='padded',
    follow_flips=False,
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='saliency.pkl',
        output_shape=(900, 1600),
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
