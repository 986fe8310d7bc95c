# FOVEA's KDE S_D as released: the dataset prior alone (a fixed zoom), 31x51, fwhm 4, on FOVEA's
# training path, schedule and batch; 1920x1200 frames zoomed to 600x960 (0.5 scale).
_base_ = ['./_base_/fovea_kde_faster_rcnn_r50_fpn.py']

model = dict(grid_generator={{_base_.fovea_grid_generator}})
