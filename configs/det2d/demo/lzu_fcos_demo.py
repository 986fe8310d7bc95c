# 2-D demo, LZU: 1600x900 frames zoomed to 225x400 as for FOVEA (./fovea_fcos_demo.py: the same
# KDE of the synthetic training boxes); each image's own region, flips followed, and every FPN
# level is unzoomed instead of unwarping boxes.
_base_ = ['./fovea_fcos_demo.py']

model = dict(type='LZUFCOS', unzoom_border='exact')
