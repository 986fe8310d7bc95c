"""``NuScenesMetric`` that runs on machines without a GPU.

mmdet3d 1.4's camera-box path (``_format_camera_bbox``, used for every
monocular model) merges the six cameras of a frame with
``nuscenes_metric.nusc_box_to_cam_box3d``, which moves its tensors to the GPU unconditionally and so
crashes on a CPU-only machine. This subclass is the one place where that is
fixed: while ``_format_camera_bbox`` runs, the module-level helper is swapped
for ``nusc_box_to_cam_box3d_on(device)``, which does the same conversion on
the GPU when there is one and on the CPU otherwise. Everything else (result
formatting, nuscenes-devkit ``DetectionEval``) is mmdet3d's own code.

It also scores a result file without a single box (an untrained model) as
NDS = mAP = 0 with every TP error at 1, nuScenes' value for "no true
positive", instead of letting the devkit fail with "Invalid box type: None".

The devkit writes ``metrics_summary.json`` and ``metrics_details.json`` with a
plain ``open()``, so a kill can leave them truncated next to the results. They
are deleted before each evaluation (so an old or half-written pair is never
read as this one's) and checked to be complete JSON after it; a broken one is
reported, naming the file. The devkit's module is given a module-level ``open``
(``lzu.infra.atomic_io.write_open``) before each evaluation, so those two files are
written without following a symbolic link (a link there is refused with one line naming it).
"""

import contextlib
import json
import os
import os.path as osp

import numpy as np
import torch
from mmdet3d.evaluation.metrics import NuScenesMetric
from mmdet3d.evaluation.metrics import nuscenes_metric as _upstream
from mmdet3d.registry import METRICS
from mmdet3d.structures import CameraInstance3DBoxes
from mmengine.logging import MMLogger

from lzu.infra.atomic_io import write_open
from lzu.infra.errors import UserInputError

__all__ = [
    "DeviceAgnosticNuScenesMetric",
    "EvaluationOutputError",
    "check_complete_json",
    "nusc_box_to_cam_box3d_on",
]

NUM_CLASSES = 10

#: files nuscenes-devkit's DetectionEval writes next to the result file
DEVKIT_OUTPUTS = ("metrics_summary.json", "metrics_details.json")


class EvaluationOutputError(UserInputError):
    """The devkit's output is missing or truncated."""


def check_complete_json(path):
    """Raise ``EvaluationOutputError`` naming ``path`` unless it is complete JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
    except FileNotFoundError:
        raise EvaluationOutputError(f"the devkit wrote no '{path}'") from None
    except ValueError as err:
        raise EvaluationOutputError(
            f"'{path}' is truncated or not JSON ({err}); evaluate again to rewrite it"
        ) from None


def nusc_box_to_cam_box3d_on(device):
    """Return a ``nusc_box_to_cam_box3d`` replacement that puts tensors on ``device``.

    NuScenes boxes (centre, ``wlh``, yaw, velocity) become
    ``CameraInstance3DBoxes`` (``lhw`` dims, ``-yaw``, gravity-centre origin),
    plus ``(N, NUM_CLASSES + 1)`` one-hot score rows and labels for the NMS.
    """

    def convert(boxes):
        n = len(boxes)
        locs = np.array([b.center for b in boxes], dtype=np.float32).reshape(n, 3)
        wlh = np.array([b.wlh for b in boxes], dtype=np.float32).reshape(n, 3)
        yaw = np.array([b.orientation.yaw_pitch_roll[0] for b in boxes], dtype=np.float32)
        vel = np.array([b.velocity[0::2] for b in boxes], dtype=np.float32).reshape(n, 2)
        lhw = wlh[:, [1, 2, 0]]
        tensor = np.concatenate([locs, lhw, -yaw.reshape(n, 1), vel], axis=1)
        cam_boxes = CameraInstance3DBoxes(
            torch.from_numpy(tensor).to(device), box_dim=9, origin=(0.5, 0.5, 0.5)
        )
        scores = torch.tensor([b.score for b in boxes], dtype=torch.float32, device=device)
        labels = torch.tensor([b.label for b in boxes], dtype=torch.long, device=device)
        nms_scores = scores.new_zeros(n, NUM_CLASSES + 1)
        nms_scores[torch.arange(n, device=device), labels] = scores
        return cam_boxes, nms_scores, labels

    return convert


@contextlib.contextmanager
def _swap(module, name, value):
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


@METRICS.register_module()
class DeviceAgnosticNuScenesMetric(NuScenesMetric):
    """mmdet3d's ``NuScenesMetric`` with the camera-box merge on any device."""

    def _format_camera_bbox(self, *args, **kwargs):
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        with _swap(_upstream, "nusc_box_to_cam_box3d", nusc_box_to_cam_box3d_on(device)):
            return super()._format_camera_bbox(*args, **kwargs)

    def _evaluate_single(self, result_path, classes=None, result_name="pred_instances_3d"):
        with open(result_path, encoding="utf-8") as f:
            n_boxes = sum(len(boxes) for boxes in json.load(f)["results"].values())
        if n_boxes > 0:
            outputs = [osp.join(osp.dirname(result_path), n) for n in DEVKIT_OUTPUTS]
            for path in outputs:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            from nuscenes.eval.detection import evaluate as devkit_evaluate

            devkit_evaluate.open = write_open
            detail = super()._evaluate_single(result_path, classes, result_name)
            for path in outputs:
                check_complete_json(path)
            return detail
        MMLogger.get_current_instance().warning(
            f"{result_path}: the model predicted no box above its score threshold on any "
            "image; nuScenes scores this as NDS = mAP = 0 with all TP errors at 1"
        )
        prefix = f"{result_name}_NuScenes"
        detail = {f"{prefix}/{name}": 1.0 for name in self.ErrNameMapping.values()}
        for name in classes or []:
            for dist in self.eval_detection_configs.dist_ths:
                detail[f"{prefix}/{name}_AP_dist_{dist}"] = 0.0
        detail[f"{prefix}/NDS"] = 0.0
        detail[f"{prefix}/mAP"] = 0.0
        return detail
