"""``PaperEpochNuScenesDataset``: nuScenes mono-3D with the paper's notion of an epoch.

mmdetection3d v1.0.0rc6, which the paper trained with, read mono-3D nuScenes as a
COCO-style dataset and, when it was built, dropped every image without an
annotation and every image smaller than 32 px on a side (mmdet 2.x's
``_filter_imgs``). An epoch was the annotated images, each seen once.

mmdet3d 1.4's ``NuScenesDataset`` keeps the empty images and, in training,
replaces each one by a random other sample in ``__getitem__``
(``filter_empty_gt``): an epoch has more iterations, some images are drawn twice,
and the epoch-based schedule (12 epochs, LR steps at 8 and 11) covers a
different number of iterations than the paper's.

This subclass is the one place that restores rc6's behaviour: at construction it
keeps only the camera images that have at least one entry in their
``cam_instances`` and are at least ``min_size`` pixels on both sides, logs
"kept N of M images", and never resamples (``filter_empty_gt=False``): an image
whose annotations the pipeline later drops trains with empty targets, as in rc6.
Test mode is untouched.

Image sizes come from the infos (``width``/``height``, written by
``tools/create_data.py``), so start-up opens no image; for infos made elsewhere,
without sizes, each image's header is read instead (and the log says so).
"""

import os.path as osp

from mmdet3d.datasets import NuScenesDataset
from mmdet3d.registry import DATASETS
from mmengine.logging import print_log
from PIL import Image

from lzu.infra.errors import UserInputError

__all__ = ["PaperEpochNuScenesDataset"]


def _image_size(img):
    """``(width, height)`` of a camera image's info ``img`` from the file's header."""
    path = img["img_path"]
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError) as err:
        raise UserInputError(f"cannot read the size of image '{path}': {err}") from None


@DATASETS.register_module()
class PaperEpochNuScenesDataset(NuScenesDataset):
    """``NuScenesDataset`` whose training epoch is rc6's: annotated images only, no resampling.

    Args:
        min_size: images smaller than this on either side are dropped (rc6: 32).
        **kwargs: everything ``NuScenesDataset`` takes; ``filter_empty_gt`` is
            forced to False (nothing is resampled).
    """

    def __init__(self, *args, min_size=32, **kwargs):
        kwargs["filter_empty_gt"] = False
        self.min_size = int(min_size)
        super().__init__(*args, **kwargs)

    def filter_data(self):
        data_list = super().filter_data()
        if self.test_mode:
            return data_list
        kept, headers_read = [], 0
        for info in data_list:
            if not info.get("instances"):
                continue
            (img,) = info["images"].values()
            if "width" in img and "height" in img:
                size = (int(img["width"]), int(img["height"]))
            else:
                size, headers_read = _image_size(img), headers_read + 1
            if min(size) >= self.min_size:
                kept.append(info)
        if headers_read:
            print_log(
                f"{osp.basename(self.ann_file)} records no image sizes: read {headers_read} "
                "image headers instead (rerun tools/create_data.py to record them)",
                logger="current",
            )
        print_log(
            f"{osp.basename(self.ann_file)}: kept {len(kept)} of {len(data_list)} images "
            f"(with at least one camera instance and at least {self.min_size} px a side, "
            "as mmdetection3d v1.0.0rc6 built its mono-3D training set)",
            logger="current",
        )
        if not kept:
            raise UserInputError(
                f"{self.ann_file}: none of its {len(data_list)} camera images has an annotation "
                f"and at least {self.min_size} px a side, so there is nothing to train on"
            )
        return kept
