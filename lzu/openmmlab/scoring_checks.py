"""What every evaluation checks about the model it scores, on every model kind.

``ScoringChecksHook`` (an mmengine hook; ``tools/test.py`` and ``tools/train.py`` register
it on their runner) watches each test or validation loop:

* **Finite outputs** (``check_finite=True``, the test tool): every head of the model
  (each submodule whose name ends in ``head``: ``bbox_head``, ``rpn_head``,
  ``roi_head.bbox_head``, ``decode_head``, ...) must return finite tensors, and every
  prediction (``pred_instances``' boxes and scores, ``pred_instances_3d``'s, segmentation
  logits) must be finite. A head's NaN is checked where it is made, before mmdet's score
  threshold drops NaN-scored boxes without a word. Else ``NonFiniteOutputError`` names the
  head output (or prediction field) and the image; the test tool adds the checkpoint.
* **Something predicted**: a detector that predicts no box on any image is a loud warning
  (stderr and the log), and the metric's keys the evaluator left out get their zeros
  (``empty_result_metrics``: mmdet's ``CocoMetric`` returns nothing for an empty result;
  the nuScenes metric scores it itself, NDS 0).
* **Adaptive saliency**: for a model with ``video_saliency``, the frames zoomed on the
  previous frame's detections and those that fell back (to the prior, or to the uniform
  map under FOVEA's ``empty='uniform'``) are logged at the end of the loop; a loop in
  which every frame fell back is a loud warning: it measured the fallback zoom, not the
  adaptive one.

What the last loop found is kept on the hook (``predictions``, ``adaptive``, ``warnings``)
for the results record. Under ``torchrun`` the counts are summed over the ranks.
"""

import sys

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from lzu.infra.checkpoint import non_finite_summary
from lzu.infra.errors import UserInputError

__all__ = ["NonFiniteOutputError", "ScoringChecksHook", "empty_result_metrics"]

#: the default items of mmdet's CocoMetric, per metric kind
_COCO_ITEMS = ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")
_COCO_PROPOSAL_ITEMS = ("AR@100", "AR@300", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")


class NonFiniteOutputError(UserInputError):
    """A model's head outputs or predictions hold NaN or infinite values (diverged weights)."""


def _coco_zeros(metric):
    names = {}
    for kind in metric.metrics:
        if kind == "proposal_fast":
            items = [f"AR@{n}" for n in metric.proposal_nums]
        elif kind == "proposal":
            items = list(metric.metric_items or _COCO_PROPOSAL_ITEMS)
        else:
            items = [f"{kind}_{item}" for item in (metric.metric_items or _COCO_ITEMS)]
            if metric.classwise:
                items += [f"{c}_precision" for c in (metric.dataset_meta or {}).get("classes", ())]
        names.update(dict.fromkeys(items, 0.0))
    return names


def _empty_rules():
    from mmdet.evaluation.metrics import CocoMetric

    return ((CocoMetric, _coco_zeros),)


def empty_result_metrics(metric):
    """The values ``metric`` (an mmengine ``BaseMetric``) gives a result without any
    prediction, under the keys its evaluator reports (``<prefix>/<name>``); ``{}`` for a
    metric that scores an empty result itself. The one place that knows each metric's keys."""
    for cls, zeros in _empty_rules():
        if isinstance(metric, cls):
            return {f"{metric.prefix}/{k}": v for k, v in zeros(metric).items()}
    return {}


def _tensors(value, path=""):
    """``(path, tensor)`` of every floating tensor in a nest of tuples, lists and dicts."""
    if torch.is_tensor(value):
        if value.is_floating_point():
            yield path, value
    elif hasattr(value, "tensor") and torch.is_tensor(value.tensor):  # mmdet3d box types
        yield from _tensors(value.tensor, path)
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{path}[{key!r}]")


def _image_of(sample):
    meta = getattr(sample, "metainfo", {}) or {}
    path = meta.get("img_path", meta.get("img_id", "?"))
    return path[0] if isinstance(path, list | tuple) and path else path


def _unwrapped(model):
    return model.module if hasattr(model, "module") else model


class ScoringChecksHook(Hook):
    """Checks of each test / validation loop; see the module docstring.

    Args:
        check_finite: refuse non-finite head outputs and predictions (``tools/test.py``).
    """

    priority = "ABOVE_NORMAL"  # before the logger hook reports the loop's metrics

    def __init__(self, check_finite=True):
        self.check_finite = check_finite
        self._handles = []
        self._images = []
        self.predictions = None
        self.adaptive = None
        self.warnings = []

    # ------------------------------------------------------------------ loop start
    def _start(self, runner):
        self._stop()
        self.predictions, self.adaptive, self.warnings = 0, None, []
        self._detector = False
        if not self.check_finite:
            return
        for name, module in _unwrapped(runner.model).named_modules():
            if name and name.rsplit(".", 1)[-1].endswith("head"):
                self._handles.append(module.register_forward_hook(self._head_hook(name)))

    def _head_hook(self, name):
        def check(module, inputs, output):
            for path, tensor in _tensors(output):
                if torch.isfinite(tensor).all():
                    continue
                images = self._images
                if tensor.dim() and tensor.shape[0] == len(images) and len(images) > 1:
                    bad = ~torch.isfinite(tensor.detach().reshape(len(images), -1)).all(dim=1)
                    images = [im for im, b in zip(images, bad.tolist(), strict=True) if b]
                raise NonFiniteOutputError(
                    f"{name} output{path} holds {non_finite_summary(tensor)} on image "
                    f"{', '.join(map(repr, images[:3])) or '?'}: the weights are diverged or "
                    "broken, and mmdet would drop or misscore such outputs without a word")
        return check

    def _stop(self):
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def before_test_epoch(self, runner):
        self._start(runner)

    def before_val_epoch(self, runner):
        self._start(runner)

    # ------------------------------------------------------------------ each batch
    def _note_images(self, data_batch):
        samples = data_batch.get("data_samples") if isinstance(data_batch, dict) else None
        self._images = [_image_of(s) for s in samples or ()]

    def before_test_iter(self, runner, batch_idx, data_batch=None):
        self._note_images(data_batch)

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        self._note_images(data_batch)

    def _check_predictions(self, outputs):
        for sample in outputs or ():
            for field in ("pred_instances", "pred_instances_3d"):
                if field in sample:
                    self._detector = True
                    self.predictions += len(sample.get(field))
            if not self.check_finite:
                continue
            for field in ("pred_instances", "pred_instances_3d", "seg_logits"):
                if field not in sample:
                    continue
                data = sample.get(field)
                for key in data.keys():
                    for path, tensor in _tensors(data.get(key), f".{key}"):
                        if not torch.isfinite(tensor).all():
                            raise NonFiniteOutputError(
                                f"the predictions' {field}{path} hold {non_finite_summary(tensor)} on image "
                                f"{_image_of(sample)!r}: the weights are diverged or broken")

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._check_predictions(outputs)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._check_predictions(outputs)

    # ------------------------------------------------------------------ loop end
    def _warn(self, message):
        self.warnings.append(message)
        print_log(message, logger="current", level=30)
        print(f"WARNING: {message}", file=sys.stderr)

    def _summed(self, values):
        if get_world_size() > 1:
            tensor = torch.tensor(values, dtype=torch.float64)
            all_reduce(tensor)
            return [int(v) for v in tensor.tolist()]
        return [int(v) for v in values]

    def _end(self, runner, metrics, loop):
        self._stop()
        detector, predictions = self._summed([self._detector, self.predictions])
        self.predictions = predictions if detector else None
        if detector and predictions == 0:
            evaluator = runner.test_evaluator if loop == "test" else runner.val_evaluator
            zeros = {}
            for metric in getattr(evaluator, "metrics", ()):
                zeros.update(empty_result_metrics(metric))
            missing = {k: v for k, v in zeros.items() if k not in (metrics or {})}
            if metrics is not None:
                metrics.update(missing)
            self._warn(f"the model predicted nothing on any of the {loop} images (no box "
                       "scored above the score threshold): its metrics are those of an empty "
                       "result (AP 0)"
                       + (f"; the {len(missing)} metrics the evaluator left out are written as 0"
                          if missing else ""))
        saliency = getattr(_unwrapped(runner.model), "video_saliency", None)
        if saliency is None:
            return
        boxes, fell = self._summed([saliency.counts["boxes"], saliency.counts[saliency.empty]])
        fallback = "the prior" if saliency.empty == "prior" else "the uniform map"
        self.adaptive = {"frames": boxes + fell, "zoomed_on_detections": boxes,
                         "fell_back": fell, "fallback": saliency.empty}
        line = (f"adaptive saliency ({saliency.owner}, {loop}): {boxes} of {boxes + fell} "
                f"frames zoomed on the previous frame's detections, {fell} fell back to "
                f"{fallback} (first frame of a sequence, a missing frame, or no detection "
                f"scoring >= {saliency.score_thr:g})")
        print_log(line, logger="current")
        if boxes == 0 and fell > 0:
            self._warn(f"every one of the {fell} {loop} frames fell back to {fallback}: this "
                       "evaluation measured the fallback zoom, not the adaptive one (no "
                       f"detection scored >= score_thr {saliency.score_thr:g})")

    def after_test_epoch(self, runner, metrics=None):
        self._end(runner, metrics, "test")

    def after_val_epoch(self, runner, metrics=None):
        self._end(runner, metrics, "val")
