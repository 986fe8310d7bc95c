# LZU on PGD (mmdet3d 1.4's PGDHead, R101-DCN, nuScenes 1x): the detector is LZUFCOSMono3D
# (PGD is an FCOSMono3D with another head), so LZU is the same two keys as for FCOS3D.
# 1600x900 frames zoomed to 0.5 scale with the paper's saliency, each image's own region.
_base_ = ['mmdet3d::pgd/pgd_r101-caffe_fpn_head-gn_16xb2-1x_nus-mono3d.py']

custom_imports = dict(imports=['lzu.openmmlab'], allow_failed_imports=False)

model = dict(
    type='LZUFCOSMono3D',
    grid_generator=dict(
        type='FixedGrid',
        saliency_file='saliency.pkl',
        output_shape=(450, 800),
        grid_shape=(27, 48),
        separable=True,
        attraction_fwhm=10,
        anti_crop=True))
