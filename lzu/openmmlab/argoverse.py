"""``ArgoverseHDDataset``: mmdet's ``CocoDataset`` for Argoverse-HD's json.

Argoverse-HD's annotation files are COCO plus a top-level ``seq_dirs`` list; an
image may name its file only by ``name`` and ``sid`` (its sequence), the path
being ``seq_dirs[sid]/name`` under ``Argoverse-1.1/tracking``. This subclass fills
``file_name`` from those when it is absent and sets the 8 classes; everything else
(loading, filtering, ``CocoMetric`` scoring with pycocotools) is mmdet's.

Video: when the json's images carry ``sid`` and ``fid`` (Argoverse-HD does; checked
by ``lzu.data.argoverse_hd.check_sequences``), each data info has ``sid``, ``fid``
and ``prev_gt_bboxes``: the previous frame's (``fid - 1``, same ``sid``) GT boxes,
x1y1x2y2 in original pixels, ``(N, 4)`` float32 (ignored boxes left out), or ``None``
for the first frame of a sequence and after a missing frame. The adaptive models
read them from the metainfo (``PackDetInputs(meta_keys=...)``).
``SequenceOrderSampler`` orders val/test frames for video inference.

Before mmdet reads the json, ``lzu.data.coco_json.check_coco`` checks it: a
malformed file is refused with one message naming the entry, and what mmdet will
ignore (boxes under 1 px, categories outside the classes) is logged.
"""

import os.path as osp

import numpy as np
from mmdet.datasets import CocoDataset
from mmdet.registry import DATA_SAMPLERS, DATASETS
from mmengine.dist import get_dist_info
from mmengine.fileio import get_local_path
from mmengine.logging import print_log
from torch.utils.data import Sampler

from lzu.data.argoverse_hd import ARGOVERSE_HD_CLASSES, check_sequences
from lzu.data.coco_json import check_coco, read_coco

__all__ = ["ArgoverseHDDataset", "SequenceOrderSampler"]


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
            data = read_coco(path)
            notes = check_coco(data, self.ann_file, self.metainfo["classes"])
            self.has_sequences = check_sequences(data, self.ann_file) is not None
        for note in notes:
            print_log(note, logger="current")
        data_list = super().load_data_list()
        if self.has_sequences:
            boxes = {(d["sid"], d["fid"]): np.array(
                [i["bbox"] for i in d["instances"] if not i.get("ignore_flag", 0)],
                dtype=np.float32).reshape(-1, 4) for d in data_list}
            for d in data_list:
                d["prev_gt_bboxes"] = boxes.get((d["sid"], d["fid"] - 1))
        return data_list

    def parse_data_info(self, raw_data_info):
        img = raw_data_info["raw_img_info"]
        if "file_name" not in img:
            img["file_name"] = osp.join(self.coco.dataset["seq_dirs"][img["sid"]], img["name"])
        info = super().parse_data_info(raw_data_info)
        if "fid" in img:
            info["sid"], info["fid"] = int(img["sid"]), int(img["fid"])
        return info


@DATA_SAMPLERS.register_module()
class SequenceOrderSampler(Sampler):
    """Val/test frames for video inference: frame order within each sequence, sequences
    side by side, so a batch holds one frame of each of several sequences.

    Indices are ordered by ``(fid, sid)``: every sequence's frame ``k`` comes before
    any frame ``k + 1``. Distributed, each rank takes whole sequences (``sid % world
    size``), so a sequence's frames meet one model in order; mmengine's result
    collection does not need equal shards for scoring. A dataset without ``sid`` /
    ``fid`` is refused, and so is ``shuffle=True`` (``shuffle=False``, which a config
    inheriting ``DefaultSampler``'s keys may carry, is accepted).
    """

    def __init__(self, dataset, seed=None, shuffle=False):
        from lzu.infra.errors import UserInputError

        if shuffle:
            raise UserInputError("SequenceOrderSampler: shuffle=True would break the frame order "
                                 "video inference needs; remove it")
        rank, world = get_dist_info()
        keys = []
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            if "sid" not in info or "fid" not in info:
                raise UserInputError(
                    f"SequenceOrderSampler: frame {i} of {type(dataset).__name__} has no "
                    "'sid'/'fid' (its json's images need them: Argoverse-HD's layout)")
            if info["sid"] % world == rank:
                keys.append((info["fid"], info["sid"], i))
        self.indices = [i for _, _, i in sorted(keys)]

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)

    def set_epoch(self, epoch):
        """Frame order does not change between epochs."""

