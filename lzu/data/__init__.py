"""Data tools: synthetic nuScenes/COCO sets, mmdet3d's nuScenes converter, info files, each task's data check, saliency from data."""
