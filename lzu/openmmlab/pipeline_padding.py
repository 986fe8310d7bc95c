"""The padding a config's test pipeline gives the model's input, as ``model.pipeline_pad``.

An LZU model zooms the batch after the pipeline ran, so the pipeline's own padding never
reaches the zoomed batch; the model pads the zoomed batch as the pipeline would pad an image of
the zoomed size (``lzu.openmmlab.features_mixin``). ``pipeline_pad(cfg)`` reads it from the test
pipeline (``test_dataloader``'s, else ``val_dataloader``'s, else ``test_pipeline``): a ``Pad``'s
own arguments, ``None`` when the pipeline pads nothing. A padding step whose equivalent for the
zoomed image is not known is refused, naming it and ``model.pipeline_pad``.
"""

from lzu.infra.errors import UserInputError

__all__ = ["PAD_KEYS", "pipeline_pad", "set_pipeline_pad"]

#: a pipeline step that pads the image to a size or a divisor, bottom-right
_PAD = "Pad"
#: the arguments of a ``Pad`` that ``model.pipeline_pad`` takes
PAD_KEYS = ("size", "size_divisor", "pad_to_square", "pad_val")


def _test_pipeline(cfg):
    """``(where, steps)`` of the config's test pipeline, or ``(None, [])``."""
    for loader in ("test_dataloader", "val_dataloader"):
        dataset = (cfg.get(loader) or {}).get("dataset") or {}
        depth = f"{loader}.dataset"
        while "pipeline" not in dataset and isinstance(dataset.get("dataset"), dict):
            dataset, depth = dataset["dataset"], f"{depth}.dataset"  # dataset wrappers
        if dataset.get("pipeline"):
            return f"{depth}.pipeline", list(dataset["pipeline"])
    if cfg.get("test_pipeline"):
        return "test_pipeline", list(cfg.test_pipeline)
    return None, []


def pipeline_pad(cfg):
    """The ``Pad`` arguments of ``cfg``'s test pipeline (``None``: it pads nothing)."""
    where, steps = _test_pipeline(cfg)
    found = None
    for i, step in enumerate(steps):
        kind = str(step.get("type", "")).split(".")[-1]
        if kind == _PAD:
            if found is not None:
                raise UserInputError(
                    f"{where}[{i}] is a second Pad: set model.pipeline_pad to the padding the "
                    "model's input gets (a Pad's size, size_divisor, pad_to_square, pad_val)")
            found = {k: step[k] for k in PAD_KEYS if step.get(k) is not None}
        elif "Pad" in kind and not (kind == "RandomCenterCropPad" and not step.get("test_mode")):
            reason = (" (it pads around the image, centred: the zoom of its canvas is not the "
                      "padded zoomed image; use dict(type='Pad', size_divisor=32))"
                      if kind == "RandomCenterCropPad" else "")
            raise UserInputError(
                f"{where}[{i}] is {kind}: LZU cannot tell how it would pad the zoomed image"
                f"{reason}; replace it, or set model.pipeline_pad to a Pad's size, "
                "size_divisor, pad_to_square, pad_val (None: no padding)")
    return found


def set_pipeline_pad(cfg):
    """For an LZU model (``model.grid_generator``) without ``model.pipeline_pad``: set it from
    the test pipeline. Other models are left alone. Returns ``cfg``."""
    model = cfg.get("model") or {}
    if "grid_generator" in model and "pipeline_pad" not in model:
        model["pipeline_pad"] = pipeline_pad(cfg)
    return cfg
