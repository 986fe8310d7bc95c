"""Refuse training pipelines that show an LZU model part of the frame.

A fixed saliency describes the whole camera frame. A transform that crops, shifts,
rotates, expands or mixes images (``RandomCrop``, ``RandomCenterCropPad``,
``Mosaic``, ``RandomAffine``, ...) hands the model a window whose pixels are not where
the saliency says, so LZU would magnify the wrong places and train on it without a
word. Such a transform in the training pipeline of an LZU model (a model config
with a ``grid_generator``) is refused by ``check_lzu_train_pipeline``, which
``tools/train.py`` runs before anything is built. We refuse rather than follow: the
crop window is not recorded by mmdet's or mmseg's transforms, so the saliency
cannot be cropped with the image.

Frame-moving transforms are recognised by name: ``FRAME_MOVING`` and any name with
a part in ``FRAME_MOVING_WORDS``; ``FRAME_KEEPING`` lists exceptions that keep the
whole frame (mmdet3d's ``AffineResize`` maps the whole image). Nested pipelines
(``RandomChoice``, ``RandomApply``, ``AutoAugment``'s policies, ``Albu``'s
albumentations, ``TransformBroadcaster``) and dataset wrappers (``RepeatDataset``,
``ConcatDataset``, ``MultiImageMixDataset``) are searched too.
"""

from lzu.infra.errors import UserInputError

__all__ = ["FRAME_KEEPING", "FRAME_MOVING", "FRAME_MOVING_WORDS", "check_lzu_train_pipeline",
           "frame_moving_steps"]

#: transforms that crop, shift, rotate, expand or mix the frame (refused under LZU)
FRAME_MOVING = {"RandAugment", "AutoAugment", "ImageAug3D", "RandomShiftScale",
                "GeomTransform", "GridDistortion", "OpticalDistortion", "ElasticTransform",
                "Perspective"}
#: a transform whose name contains one of these is frame-moving too
FRAME_MOVING_WORDS = ("Crop", "Mosaic", "MixUp", "Affine", "Shift", "Rotat", "Shear",
                      "Translate", "Expand")
#: exceptions that keep the whole frame
FRAME_KEEPING = {"AffineResize"}


def _is_frame_moving(name):
    if name in FRAME_KEEPING:
        return False
    return name in FRAME_MOVING or any(word in name for word in FRAME_MOVING_WORDS)


def _steps(pipeline, where):
    for i, step in enumerate(pipeline or ()):
        if isinstance(step, list | tuple):  # AutoAugment policies: lists of transforms
            yield from _steps(step, f"{where}[{i}]")
            continue
        if not isinstance(step, dict):
            continue
        here = f"{where}[{i}]"
        kind = step.get("type", "")
        yield (kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))).split(
            ".")[-1], here
        for key in ("transforms", "policies", "aug_space"):
            if key in step:
                yield from _steps(step[key], f"{here}.{key}")


def _dataset_steps(dataset, where):
    if not isinstance(dataset, dict):
        return
    yield from _steps(dataset.get("pipeline"), f"{where}.pipeline")
    if "dataset" in dataset:
        yield from _dataset_steps(dataset["dataset"], f"{where}.dataset")
    for i, inner in enumerate(dataset.get("datasets") or ()):
        yield from _dataset_steps(inner, f"{where}.datasets[{i}]")


def frame_moving_steps(cfg):
    """``[(transform name, where)]`` of the frame-moving steps of ``cfg``'s training data."""
    loader = cfg.get("train_dataloader") or {}
    return [(name, where) for name, where in
            _dataset_steps(loader.get("dataset"), "train_dataloader.dataset")
            if _is_frame_moving(name)]


def check_lzu_train_pipeline(cfg):
    """Raise ``UserInputError`` when an LZU model's training pipeline moves the frame."""
    if not (cfg.get("model") or {}).get("grid_generator"):
        return
    steps = frame_moving_steps(cfg)
    if steps:
        name, where = steps[0]
        raise UserInputError(
            f"{where} is {name}, which crops, shifts or mixes the frame, but "
            f"{cfg.model.get('type')}'s fixed saliency describes the whole camera frame, so "
            "LZU would magnify the wrong places; remove it (LZU trains on whole frames: "
            "resize, flip and photometric transforms are fine)"
        )
