# LZU on FCOS R50 (caffe) FPN, GN head: full-resolution frames are zoomed to output_shape with a fixed
# saliency (a KDE of the training boxes: tools/make_saliency.py --coco), every FPN level
# is unzoomed; a child sets model.grid_generator.output_shape. The sampler settings are the
# nuScenes ones: the paper does not publish its Argoverse-HD zoom settings (see README).
_base_ = ['./fcos_r50_fpn.py']

model = dict(
    type='LZUFCOS',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='data/argoverse/saliency_kde.pkl',
        output_shape=(1200, 1920),
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
