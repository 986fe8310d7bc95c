"""The method, in plain PyTorch (no OpenMMLab import): zoom, unzoom, grid generators, saliency, and the LZU wrapper."""
