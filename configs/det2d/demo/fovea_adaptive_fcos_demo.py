# 2-D demo, adaptive FOVEA: the adaptive LZU demo (./lzu_adaptive_fcos_demo.py: 1600x900 frames
# zoomed to 225x400, each with its own saliency, a KDE of the previous frame's detections mixed
# with the demo's dataset KDE, val frames in sequence order) with FOVEA's model: the detector
# runs in the zoomed frame and its boxes are unwarped.
_base_ = ['./lzu_adaptive_fcos_demo.py']

model = dict(type='FoveaFCOS')
