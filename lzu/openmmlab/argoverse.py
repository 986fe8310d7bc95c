"""``ArgoverseHDDataset``: mmdet's ``CocoDataset`` for Argoverse-HD's json.

Argoverse-HD's annotation files are COCO plus a top-level ``seq_dirs`` list; an
image may name its file only by ``name`` and ``sid`` (its sequence), the path
being ``seq_dirs[sid]/name`` under ``Argoverse-1.1/tracking``. This subclass fills
``file_name`` from those when it is absent and sets the 8 classes; everything else
(loading, filtering, ``CocoMetric`` scoring with pycocotools) is mmdet's.

Before mmdet reads the json, ``lzu.data.coco_json.check_coco`` checks it: a
malformed file is refused with one message naming the entry, and what mmdet will
ignore (boxes under 1 px, categories outside the classes) is logged.
"""

import os.path as osp

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from lzu.data.argoverse_hd import ARGOVERSE_HD_CLASSES
from lzu.data.coco_json import check_coco, read_coco

__all__ = ["ArgoverseHDDataset"]


@DATASETS.register_module()
class ArgoverseHDDataset(CocoDataset):
    """COCO-style Argoverse-HD (8 classes); file names from ``seq_dirs`` when absent."""

    METAINFO = {
        "classes": ARGOVERSE_HD_CLASSES,
        "palette": [(220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230), (106, 0, 228),
                    (0, 60, 100), (250, 170, 30), (220, 220, 0)],
    }

    def load_data_list(self):
        with get_local_path(self.ann_file, backend_args=self.backend_args) as path:
            notes = check_coco(read_coco(path), self.ann_file, self.metainfo["classes"])
        for note in notes:
            print_log(note, logger="current")
        return super().load_data_list()

    def parse_data_info(self, raw_data_info):
        img = raw_data_info["raw_img_info"]
        if "file_name" not in img:
            img["file_name"] = osp.join(self.coco.dataset["seq_dirs"][img["sid"]], img["name"])
        return super().parse_data_info(raw_data_info)
