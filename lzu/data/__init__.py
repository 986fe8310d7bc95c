"""Data tools: synthetic nuScenes/COCO sets, mmdet3d's nuScenes converter, info files, saliency from data."""
