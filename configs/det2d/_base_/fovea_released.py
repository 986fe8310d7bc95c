# FOVEA's released Argoverse-HD settings (Thavamani et al. 2021, its released code and configs),
# picked up by the fovea_kde_* configs with {{_base_.fovea_*}}:
# - zoom: a 31x51 saliency lattice, attraction fwhm 4, separable, reflect padding (anti_crop);
# - S_D: the dataset prior alone (a fixed grid); S_I: a KDE of boxes (bandwidth 64,
#   amplitude 1), uniform for an empty list; S_C: 0.5 S_D + 0.5 S_I; LKDE S_I: S_I with a
#   learned bandwidth and amplitude;
# - boxes: training, the frame's own GT with centres jittered by 100 N(0,1) - 50 px;
#   test, every detection of the previous frame (the detector's own cut: score > 0.05,
#   at most 100);
# - schedule: SGD lr 0.02, momentum 0.9, decay 1e-4, poly (power 1) per iteration, no
#   warmup, 3 epochs, 4 images per iteration (FOVEA: 2 per GPU on 2 GPUs);
# - initialisation: mmdet's COCO Faster R-CNN R50-FPN (2x schedule, box AP 38.4).
# The prior file is this project's KDE of the training boxes at 31x51 (tools/make_saliency.py).
fovea_grid_generator = dict(
    type='FixedGrid',
    saliency_file='data/argoverse/saliency_kde_31x51.pkl',
    output_shape=(600, 960),
    grid_shape=(31, 51),
    separable=True,
    attraction_fwhm=4,
    anti_crop=True)
fovea_adaptive_grid_generator = dict(
    type='AdaptiveGrid',
    output_shape=(600, 960),
    grid_shape=(31, 51),
    separable=True,
    attraction_fwhm=4,
    anti_crop=True)
fovea_si_saliency = dict(
    prior_file=None,
    prior_weight=0.0,
    bandwidth=64.0,
    amplitude=1.0,
    score_thr=0.05,
    train_source='current_gt',
    jitter=50.0,
    jitter_rule='fovea',
    empty='uniform')
fovea_sc_saliency = dict(fovea_si_saliency, prior_file='data/argoverse/saliency_kde_31x51.pkl',
                         prior_weight=0.5)
# LKDE S_I: S_I with the bandwidth and amplitude learned (64 |1 + b| + 0.1, |1 + a| + 0.1; b and
# a start at 0), trained at lr x 0.005 with no weight decay
fovea_lkde_si_saliency = dict(fovea_si_saliency, learned_kde=True)
fovea_lkde_paramwise_cfg = dict(custom_keys={'learned_kde': dict(lr_mult=0.005, decay_mult=0.0)})
fovea_param_scheduler = [
    dict(type='PolyLR', power=1.0, eta_min=0.0, begin=0, end=3, by_epoch=True,
         convert_to_iter_based=True)
]
fovea_train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=3, val_interval=1)
fovea_load_from = ('https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/'
                   'faster_rcnn_r50_fpn_2x_coco/'
                   'faster_rcnn_r50_fpn_2x_coco_bbox_mAP-0.384_20200504_210434-a5d8aa15.pth')
