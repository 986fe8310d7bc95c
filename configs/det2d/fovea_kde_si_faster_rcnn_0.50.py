# FOVEA's KDE S_I as released: a KDE of the frame's boxes (training: its own GT, jittered;
# test: the previous frame's detections; uniform for a first frame), 31x51, fwhm 4, on FOVEA's
# training path, schedule and batch; 1920x1200 frames zoomed to 600x960 (0.5 scale).
_base_ = ['./_base_/fovea_kde_adaptive_faster_rcnn_r50_fpn.py']

model = dict(grid_generator={{_base_.fovea_adaptive_grid_generator}},
             adaptive_saliency={{_base_.fovea_si_saliency}})
