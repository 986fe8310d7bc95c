"""Per-image latency of a detector (mono-3D or 2-D) or segmentor, split into its parts.

``measure_latencies`` times ``model.predict`` at batch size 1 (warm-up, then N
timed calls; CUDA is synchronised before every clock read) and, in a second
loop, the parts that ``predict`` is made of:

* ``zoom``: LZU's zoom (grid lookup, ``grid_sample``, pad) and unzoom of every
  FPN level (0 for a uniform baseline);
* ``backbone_neck``: backbone + FPN;
* ``head``: a dense head (``head_forward``) plus box decoding and NMS
  (``postprocess``); a two-stage detector's RPN + RoI heads (``head`` only); a
  segmentor's decode head (``head_forward``, logits at the image size) plus mmseg's
  postprocessing to the original size (``postprocess``).

A model's inputs are what its data preprocessor returns: a dict holding ``imgs``
(mmdet3d) or a tensor (mmdet, mmseg). An LZU model's parts are timed through its public
``timed_extract_feat`` (``lzu.openmmlab.features_mixin.LZUFeaturesMixin``); the clock and
the percentile are ``lzu.infra.timing``'s.
"""

import statistics

import torch

from lzu.infra.timing import Clock, percentile

__all__ = ["measure_latencies", "model_scale", "is_lzu"]


def is_lzu(model):
    return hasattr(model, "grid_generator")


def model_scale(cfg, frame_width):
    """Scale ``s`` of a config: LZU's output width, or the baseline's Resize width, over the
    width of the frames it is given (``frame_width``, px: the caller knows its dataset)."""
    grid = cfg.model.get("grid_generator")
    if grid is not None:
        return grid["output_shape"][1] / float(frame_width)
    for step in cfg.test_dataloader.dataset.pipeline:
        if step["type"] in ("Resize3D", "mmdet.Resize", "Resize") and "scale" in step:
            return step["scale"][0] / float(frame_width)
    return 1.0


def _heads(model, feats, samples, clock):
    """The head part of ``predict`` on ``feats``: ``(ms of the forward, ms of the rest)``;
    the second is None when the two are not separable (two-stage detectors)."""
    metas = [s.metainfo for s in samples]
    t0 = clock()
    if hasattr(model, "decode_head"):  # mmseg encoder-decoder
        logits = model.decode_head.predict(feats, metas, model.test_cfg)
        t1 = clock()
        model.postprocess_result(logits, samples)
        return (t1 - t0) * 1e3, (clock() - t1) * 1e3
    if hasattr(model, "roi_head"):  # two-stage detector
        proposals = model.rpn_head.predict(feats, samples, rescale=False)
        model.roi_head.predict(feats, proposals, samples, rescale=True)
        return (clock() - t0) * 1e3, None
    outs = model.bbox_head(feats)
    t1 = clock()
    model.bbox_head.predict_by_feat(*outs, batch_img_metas=metas, rescale=True)
    return (t1 - t0) * 1e3, (clock() - t1) * 1e3


def _parts(model, inputs, samples, clock):
    """Run ``predict``'s steps one by one; returns ms per part."""
    if is_lzu(model):
        feats, (t0, t1, t2, t3) = model.timed_extract_feat(inputs, samples, clock)
    else:
        imgs = inputs["imgs"] if isinstance(inputs, dict) else inputs
        t0 = t1 = clock()
        feats = model.neck(model.backbone(imgs)) if model.with_neck else model.backbone(imgs)
        t2 = t3 = clock()
    zoom_ms = (t1 - t0) * 1e3 + (t3 - t2) * 1e3
    head_ms, post_ms = _heads(model, feats, samples, clock)
    parts = {"zoom_ms": zoom_ms, "backbone_neck_ms": (t2 - t1) * 1e3,
             "head_ms": head_ms + (post_ms or 0.0)}
    if post_ms is not None:
        parts.update(head_forward_ms=head_ms, postprocess_ms=post_ms)
    return parts


def measure_latencies(runs, device, warmup=5, iters=20):
    """Median/p90 ``predict`` latency and the median of each part, for several models.

    ``runs`` is a list of ``(model, batches)``; ``batches`` holds
    ``(inputs, data_samples)`` pairs on ``device`` (batch 1) and is cycled.
    Models are measured interleaved (model A, B, A, B, ...) so that drifts of
    the machine (thermal, other load) hit all of them alike: ratios between
    them are measured in the same run. Returns one dict per model.
    """
    clock = Clock(device)
    runs = [(model, list(batches)) for model, batches in runs]
    if any(not batches for _, batches in runs):
        raise ValueError("measure_latencies: a model has no input batches")

    def item(batches, i):
        return batches[i % len(batches)]

    totals = [[] for _ in runs]
    parts = [[] for _ in runs]
    with torch.no_grad():
        for i in range(warmup):
            for model, batches in runs:
                model.predict(*item(batches, i))
        for i in range(iters):
            for k, (model, batches) in enumerate(runs):
                t0 = clock()
                model.predict(*item(batches, i))
                totals[k].append((clock() - t0) * 1e3)
        for i in range(iters):
            for k, (model, batches) in enumerate(runs):
                parts[k].append(_parts(model, *item(batches, i), clock))
    results = []
    for k in range(len(runs)):
        result = {
            "latency_ms": statistics.median(totals[k]),
            "latency_p90_ms": percentile(totals[k], 90),
            "iters": iters,
        }
        for key in parts[k][0]:
            result[key] = statistics.median(p[key] for p in parts[k])
        results.append(result)
    return results
