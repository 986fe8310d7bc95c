"""Build saliency.pkl (the paper's format) from the training set's 2-D boxes or label maps.

    python tools/make_saliency.py --infos data/nuscenes/nuscenes_infos_train.pkl --out saliency.pkl
    python tools/make_saliency.py --coco data/argoverse/Argoverse-HD/annotations/train.json \
        --out data/argoverse/saliency_kde.pkl
    python tools/make_saliency.py --seg-labels data/cityscapes/gtFine/train \
        --out data/cityscapes/saliency_boundary.pkl

Boxes (--infos, --coco): a dataset-wide KDE of box centres (FOVEA's "KDE S_D"), see
lzu/data/saliency_kde.py; grid 27 x 48 by default. Label maps (--seg-labels): how often
each pixel lies on a class boundary, average-pooled to the grid, see
lzu/data/saliency_boundary.py; grid 32 x 32 (square) by default.
An existing output file (e.g. the paper's own saliency.pkl) is never
overwritten unless --force is given.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

from lzu.apis.data_commands import make_saliency_main
from lzu.infra.cli import run_main

if __name__ == "__main__":
    run_main(make_saliency_main, "make_saliency")
