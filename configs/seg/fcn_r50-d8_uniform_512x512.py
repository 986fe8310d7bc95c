# FCN R50-D8 on Cityscapes, uniform: whole 2048x1024 frames resized to 512x512 (the family
# base's size).
_base_ = ['./_base_/fcn_r50-d8_uniform.py']
