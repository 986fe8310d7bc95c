# FOVEA's KDE S_C as released: 0.5 dataset prior + 0.5 KDE of the frame's boxes (a first frame:
# 0.5 prior + 0.5 uniform), 31x51, fwhm 4, on FOVEA's training path, schedule and batch;
# 1920x1200 frames zoomed to 600x960 (0.5 scale).
_base_ = ['./_base_/fovea_kde_adaptive_faster_rcnn_r50_fpn.py']

model = dict(grid_generator={{_base_.fovea_adaptive_grid_generator}},
             adaptive_saliency={{_base_.fovea_sc_saliency}})
