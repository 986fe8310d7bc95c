# Uniform-downsampling baselines: images resized by s in train and test.
# Resize3D scales the image, 2-D boxes, centers_2d and cam2img together.
# A child sets `resize` and assembles the two pipelines from the pieces below.
_base_ = ['./fcos3d_r50-dcn_nus-mono3d.py']

load_image = dict(type='LoadImageFromFileMono3D')
load_annotations = dict(
    type='LoadAnnotations3D',
    with_bbox=True,
    with_label=True,
    with_attr_label=True,
    with_bbox_3d=True,
    with_label_3d=True,
    with_bbox_depth=True)
flip = dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5)
pack_train = dict(
    type='Pack3DDetInputs',
    keys=[
        'img', 'gt_bboxes', 'gt_bboxes_labels', 'attr_labels', 'gt_bboxes_3d',
        'gt_labels_3d', 'centers_2d', 'depths'
    ])
pack_test = dict(type='Pack3DDetInputs', keys=['img'])
