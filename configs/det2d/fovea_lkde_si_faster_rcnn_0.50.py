# FOVEA's LKDE S_I as released: S_I (a KDE of the frame's boxes; uniform for a first frame) whose
# bandwidth and amplitude are learned (64 |1 + b| + 0.1 and |1 + a| + 0.1, b = a = 0 at first;
# lr x 0.005, no weight decay), 31x51, fwhm 4, on FOVEA's training path, schedule and batch;
# 1920x1200 frames zoomed to 600x960 (0.5 scale).
_base_ = ['./_base_/fovea_kde_adaptive_faster_rcnn_r50_fpn.py']

model = dict(grid_generator={{_base_.fovea_adaptive_grid_generator}},
             adaptive_saliency={{_base_.fovea_lkde_si_saliency}})
optim_wrapper = dict(paramwise_cfg={{_base_.fovea_lkde_paramwise_cfg}})
