"""Adaptive FOVEA / LZU on video: frame t zooms on frame t-1's detections.

Tiny models (the configs' FCOS at 96x160 on 192x320 frames), a few frames each.
"""

import json
import os.path as osp

import pytest
import torch
from conftest import ROOT
from det2d_fixtures import asymmetric_saliency, det_samples

import lzu.openmmlab  # noqa: F401  (registers the detectors)
from lzu.apis.runtime import load_config
from lzu.core.box_saliency import boxes_to_saliency
from lzu.core.frame_memory import FrameMemory
from lzu.data.coco_json import AnnotationFileError
from lzu.infra.errors import UserInputError
from lzu.openmmlab.video_saliency import AdaptiveSaliencyError

METHODS = ("lzu", "fovea")
H, W = 192, 320


def build(method, family="fcos", **saliency):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    cfg = load_config(osp.join(ROOT, "configs", "det2d", f"{method}_adaptive_{family}_0.50.py"))
    cfg.model.grid_generator.update(output_shape=(96, 160))
    cfg.model.adaptive_saliency.update(prior_file=asymmetric_saliency(), **saliency)
    init_default_scope("mmdet")
    return MODELS.build(cfg.model).eval()


def frames(seq, fids):
    samples = det_samples(H, W, len(fids))
    for s, fid in zip(samples, fids, strict=True):
        s.set_metainfo(dict(sid=seq, fid=fid, img_path=f"seq{seq}/{fid}.jpg"))
    return samples


def video(seed, n):
    torch.manual_seed(seed)
    return torch.randn(n, 3, H, W) * 50


def summary(result):
    p = result.pred_instances
    return p.bboxes[:20], p.scores[:20]


def test_frame_memory_rules():
    mem = FrameMemory()
    box, score = torch.ones(1, 4), torch.ones(1)
    assert mem.previous(3, 0) is None  # first frame: the prior
    mem.store(3, 0, box, score)
    assert torch.equal(mem.previous(3, 1)[0], box)
    assert mem.previous(3, 2) is None  # a missing frame: the prior
    mem.store(3, 2, box, score)
    assert mem.resets == 1 and mem.last_reset == (3, 1, 2)
    mem.store(3, 0, box, score)  # the sequence run again from its start: not a reset
    assert mem.resets == 1 and mem.previous(4, 1) is None


@pytest.mark.parametrize("method", METHODS)
def test_a_batch_of_two_sequences_equals_each_sequence_alone(method):
    """Acceptance: batches mixing sequences (and holding two frames of one) change nothing."""
    a, b = video(0, 3), video(1, 3)
    alone = build(method)
    ref = {}
    with torch.no_grad():
        for seq, imgs in ((0, a), (1, b)):
            for t in range(3):
                ref[seq, t] = summary(alone.predict(imgs[t:t + 1], frames(seq, [t]))[0])
        # frames 1 and 2 zoom on the previous detections, not the prior
        assert len(alone.video_saliency.memory) == 2
        kept = alone.video_saliency.memory.previous(0, 3)
        assert (kept[1] >= alone.video_saliency.score_thr).sum() > 0
        mixed = build(method)
        mixed.load_state_dict(alone.state_dict())
        # interleaved: (a0, b0), then a batch with two frames of b and one of a
        out = mixed.predict(torch.cat([a[:1], b[:1]]), frames(0, [0]) + frames(1, [0]))
        got = {(0, 0): summary(out[0]), (1, 0): summary(out[1])}
        batch = frames(1, [2]) + frames(0, [1]) + frames(1, [1])  # b2 before b1 in the batch
        out = mixed.predict(torch.cat([b[2:3], a[1:2], b[1:2]]), batch)
        got.update({(1, 2): summary(out[0]), (0, 1): summary(out[1]), (1, 1): summary(out[2])})
        got[0, 2] = summary(mixed.predict(a[2:3], frames(0, [2]))[0])
    for key, (boxes, scores) in ref.items():
        torch.testing.assert_close(got[key][1], scores, atol=1e-4, rtol=0, msg=f"{key}")
        torch.testing.assert_close(got[key][0], boxes, atol=1e-2, rtol=0, msg=f"{key}")
    # the zoom did follow the detections: frame 1 differs from frame 1 zoomed with the prior
    fresh = build(method)
    fresh.load_state_dict(alone.state_dict())
    with torch.no_grad():
        prior_only = summary(fresh.predict(a[1:2], frames(0, [1]))[0])
    assert (prior_only[1] - ref[0, 1][1]).abs().max() > 1e-3


def saliency_of(model, samples, training=False):
    return model.video_saliency.batch_saliency(samples, training, "cpu", torch.float64)


def prior_of(model):
    prior = model.video_saliency.prior
    return prior / prior.sum()


def remember(model, seq, fid, boxes, scores):
    from mmengine.structures import InstanceData

    sample = frames(seq, [fid])[0]
    sample.pred_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                         scores=torch.tensor(scores, dtype=torch.float32))
    model.video_saliency.update([sample])


def test_first_frame_missing_frame_and_empty_detections_use_the_prior(caplog):
    model = build("lzu")
    prior = prior_of(model)
    torch.testing.assert_close(saliency_of(model, frames(0, [0]))[0, 0], prior[0, 0])
    remember(model, 0, 0, [[10.0, 20.0, 60.0, 90.0]], [0.9])
    after = saliency_of(model, frames(0, [1]))
    assert (after - prior).abs().max() > 1e-3
    expected = boxes_to_saliency([torch.tensor([[10.0, 20.0, 60.0, 90.0]])], (W, H), (27, 48),
                                 64.0, 1.0, prior, 0.2, dtype=torch.float64)
    torch.testing.assert_close(after, expected)
    # frame 1 missing: frame 2 zooms with the prior, and the jump is logged
    torch.testing.assert_close(saliency_of(model, frames(0, [2])), prior)
    remember(model, 0, 2, [[10.0, 20.0, 60.0, 90.0]], [0.9])
    assert model.video_saliency.memory.resets == 1
    # empty detections / all below score_thr: the prior
    remember(model, 0, 3, [[10.0, 20.0, 60.0, 90.0]], [0.1])
    torch.testing.assert_close(saliency_of(model, frames(0, [4])), prior)
    remember(model, 0, 4, torch.zeros(0, 4).tolist(), [])
    torch.testing.assert_close(saliency_of(model, frames(0, [5])), prior)
    assert model.video_saliency.counts == {"boxes": 1, "prior": 4}


@pytest.mark.parametrize("method", METHODS)
def test_a_new_loop_forgets_the_detections_of_the_last(method):
    """Train/eval switches (every mmengine loop start) clear the memory: no stale boxes."""
    model = build(method)
    prior = prior_of(model)
    remember(model, 0, 0, [[10.0, 20.0, 60.0, 90.0]], [0.9])
    assert (saliency_of(model, frames(0, [1])) - prior).abs().max() > 1e-3
    model.eval()  # a second evaluation (e.g. the test split after val)
    assert len(model.video_saliency.memory) == 0
    torch.testing.assert_close(saliency_of(model, frames(0, [1])), prior)
    remember(model, 0, 0, [[10.0, 20.0, 60.0, 90.0]], [0.9])
    model.train()  # training moves the weights: earlier detections are stale
    model.eval()
    torch.testing.assert_close(saliency_of(model, frames(0, [1])), prior)


def test_boxes_outside_the_image_are_clipped_or_dropped():
    model = build("fovea")
    remember(model, 0, 0, [[-50.0, -40.0, 60.0, 90.0], [400.0, 10.0, 500.0, 50.0]], [0.9, 0.9])
    got = saliency_of(model, frames(0, [1]))
    expected = boxes_to_saliency([torch.tensor([[0.0, 0.0, 60.0, 90.0]])], (W, H), (27, 48),
                                 64.0, 1.0, prior_of(model), 0.2, dtype=torch.float64)
    torch.testing.assert_close(got, expected)


def test_nan_scores_and_missing_sequence_metainfo_are_refused_by_name():
    model = build("lzu")
    with pytest.raises(AdaptiveSaliencyError, match="sequence 0 frame 0.*NaN scores"):
        remember(model, 0, 0, [[10.0, 20.0, 60.0, 90.0]], [float("nan")])
    bare = det_samples(H, W, 1)
    with pytest.raises(AdaptiveSaliencyError, match="metainfo 'sid'.*meta_keys"):
        with torch.no_grad():
            model.predict(video(0, 1), bare)
    bad = frames(0, [0])
    bad[0].set_metainfo(dict(fid=-1))
    with pytest.raises(AdaptiveSaliencyError, match="'fid' must be a whole number"):
        saliency_of(model, bad)


def test_a_flipped_frame_gets_the_flipped_saliency():
    model = build("lzu")
    remember(model, 0, 0, [[10.0, 20.0, 60.0, 90.0]], [0.9])
    plain = saliency_of(model, frames(0, [1]))
    flipped = frames(0, [1])
    flipped[0].set_metainfo(dict(flip=True, flip_direction="horizontal"))
    torch.testing.assert_close(saliency_of(model, flipped), plain.flip(3))


@pytest.mark.parametrize("source", ["previous_gt", "current_gt"])
def test_training_saliency_sources(source):
    model = build("fovea", train_source=source, jitter=0.0)
    samples = det_samples(H, W, 2, with_gt=True)
    samples[0].set_metainfo(dict(sid=0, fid=0, prev_gt_bboxes=None))
    samples[1].set_metainfo(dict(sid=0, fid=1, prev_gt_bboxes=[[100.0, 50.0, 200.0, 150.0]]))
    got = saliency_of(model, samples, training=True)
    prior = prior_of(model)
    if source == "previous_gt":
        torch.testing.assert_close(got[0, 0], prior[0, 0])  # first frame: the prior
        boxes = [torch.tensor([[100.0, 50.0, 200.0, 150.0]])]
        want = boxes_to_saliency(boxes, (W, H), (27, 48), 64.0, 1.0, prior, 0.2,
                                 dtype=torch.float64)
        torch.testing.assert_close(got[1:], want)
    else:
        want = boxes_to_saliency([s.gt_instances.bboxes for s in samples], (W, H), (27, 48),
                                 64.0, 1.0, prior, 0.2, dtype=torch.float64)
        torch.testing.assert_close(got, want)
    model.train()
    losses = model.loss(video(2, 2), samples)
    assert torch.isfinite(sum(v for k, v in losses.items() if "loss" in k))


def test_config_keys_are_checked():
    with pytest.raises(UserInputError, match="train_source"):
        build("lzu", train_source="next_gt")
    with pytest.raises(UserInputError, match="score_thr"):
        build("lzu", score_thr=float("nan"))
    cfg = load_config(osp.join(ROOT, "configs", "det2d", "lzu_adaptive_fcos_0.50.py"))
    cfg.model.pop("adaptive_saliency")
    from mmdet.registry import MODELS

    with pytest.raises(UserInputError, match="adaptive_saliency and grid_generator"):
        MODELS.build(cfg.model)


# ------------------------------------------------------------- the Argoverse-HD video layout


def test_argoverse_frames_carry_sequence_previous_gt_and_sampler_order(synthetic_root, tmp_path):
    from mmdet.registry import DATA_SAMPLERS, DATASETS
    from mmengine.registry import init_default_scope

    from lzu.data.argoverse_hd import write_argoverse_hd_from_nuscenes

    write_argoverse_hd_from_nuscenes(synthetic_root, str(tmp_path))
    ann = tmp_path / "Argoverse-HD" / "annotations" / "val.json"
    gt = json.loads(ann.read_text())
    assert len(gt["sequences"]) == len(gt["seq_dirs"]) > 1
    for sid in range(len(gt["seq_dirs"])):
        assert sorted(i["fid"] for i in gt["images"] if i["sid"] == sid) == [0, 1, 2]
    cfg = load_config(osp.join(ROOT, "configs", "det2d", "lzu_adaptive_fcos_0.50.py"),
                      data_root=str(tmp_path))
    init_default_scope("mmdet")
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    by_frame = {(d["sid"], d["fid"]): d for d in infos}
    for d in infos:
        if d["fid"] == 0:
            assert d["prev_gt_bboxes"] is None
        else:
            prev = [i["bbox"] for i in by_frame[d["sid"], d["fid"] - 1]["instances"]]
            assert d["prev_gt_bboxes"].shape == (len(prev), 4)
            assert d["prev_gt_bboxes"].ravel().tolist() == pytest.approx(
                [v for box in prev for v in box], abs=1e-3)
    sample = dataset[0]["data_samples"]
    assert {"sid", "fid"} <= set(sample.metainfo)
    sampler = DATA_SAMPLERS.build(cfg.test_dataloader.sampler, default_args=dict(dataset=dataset))
    order = [(infos[i]["fid"], infos[i]["sid"]) for i in sampler]
    assert order == sorted(order) and len(order) == len(dataset)

    # temporally coherent: consecutive frames of a sequence share boxes, other sequences don't
    def overlap(a, b):
        boxes = [torch.tensor([i["bbox"] for i in d["instances"]]).reshape(-1, 4) for d in (a, b)]
        if not len(boxes[0]) or not len(boxes[1]):
            return 0.0
        from mmdet.structures.bbox import bbox_overlaps

        return float(bbox_overlaps(boxes[0], boxes[1]).max(dim=1).values.mean())

    same = [overlap(by_frame[s, f - 1], by_frame[s, f]) for s, f in by_frame if f > 0]
    other = [overlap(by_frame[s, f], by_frame[s + 1, f]) for s, f in by_frame
             if (s + 1, f) in by_frame]
    assert sum(same) / len(same) > sum(other) / len(other) + 0.1


def test_a_broken_video_layout_is_refused_by_name(tmp_path):
    from lzu.data.argoverse_hd import check_sequences

    images = [{"id": 1, "sid": 0, "fid": 0}, {"id": 2, "sid": 0, "fid": 1}]
    data = {"images": images, "seq_dirs": ["a"], "sequences": ["a"]}
    assert check_sequences(data, "x.json") == {1: (0, 0), 2: (0, 1)}
    assert check_sequences({"images": [{"id": 1}]}, "x.json") is None  # no video layout
    for broken, pattern in (
            ({"images": [images[0], {"id": 2, "sid": 0}]}, "image id 2: 'fid' is missing"),
            ({"images": [images[0], {"id": 2, "sid": 0, "fid": 0}]}, "also image id 1"),
            ({"images": images, "seq_dirs": ["a"], "sequences": ["a", "b"]}, "same sequences"),
            ({"images": [{"id": 1, "sid": 3, "fid": 0}], "seq_dirs": ["a"]}, "sid 3"),
            ({"images": [{"id": 1, "sid": 0, "fid": 1.5}]}, "'fid' is 1.5")):
        with pytest.raises(AnnotationFileError, match=pattern):
            check_sequences(broken, "x.json")


# ------------------------------------------------------------- the core: per-image grids in LZU


def test_per_image_grids_equal_each_image_with_its_own_fixed_grid():
    """LZU.zoom(grids=...) / unzoom on a padded batch of two sizes == FixedGrid per image."""
    from lzu.core.adaptive_grid import AdaptiveGrid
    from lzu.core.fixed_grid import FixedGrid
    from lzu.core.wrapper import LZU

    prior = asymmetric_saliency()
    sal = boxes_to_saliency([torch.tensor([[10.0, 20.0, 90.0, 70.0]]),
                             torch.tensor([[200.0, 100.0, 300.0, 180.0]])], (W, H), (27, 48),
                            64.0, 1.0, prior, 0.2)
    torch.manual_seed(0)
    imgs = torch.randn(2, 3, H, W)
    shapes = [(H, W), (150, 250)]  # the second image fills part of the padded tensor
    adaptive = LZU(AdaptiveGrid((96, 160)), pad_size_divisor=32)
    grids = adaptive.grid_generator.zoom_grids(sal)
    zoomed, state = adaptive.zoom(imgs, shapes, grids=grids)
    feats = [zoomed, torch.nn.functional.avg_pool2d(zoomed, 4)]
    unzoomed = adaptive.unzoom(feats, state)
    for b in range(2):
        one = LZU(FixedGrid(sal[b:b + 1], output_shape=(96, 160)), pad_size_divisor=32)
        z1, s1 = one.zoom(imgs[b:b + 1], [shapes[b]])
        torch.testing.assert_close(zoomed[b:b + 1], z1, atol=1e-5, rtol=0)
        u1 = one.unzoom([z1, torch.nn.functional.avg_pool2d(z1, 4)], s1)
        for got, want in zip(unzoomed, u1, strict=True):
            torch.testing.assert_close(got[b:b + 1], want, atol=1e-5, rtol=0)
    assert (grids[1][0] - grids[1][1]).abs().max() > 0.05  # two different zooms


def test_the_dataset_refuses_a_frame_without_fid(tmp_path):
    from helpers import write_coco_set
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    root = write_coco_set(str(tmp_path / "argoverse"))
    path = osp.join(root, "Argoverse-HD", "annotations", "val.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    del data["images"][1]["fid"]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    cfg = load_config(osp.join(ROOT, "configs", "det2d", "lzu_adaptive_fcos_0.50.py"),
                      data_root=root)
    init_default_scope("mmdet")
    with pytest.raises(AnnotationFileError, match="image id 2: 'fid' is missing"):
        DATASETS.build(cfg.val_dataloader.dataset)


def test_run_sh_points_an_adaptive_experiment_at_its_prior(tmp_path, monkeypatch):
    """`sh run.sh det2d/lzu_adaptive_fcos_0.50`: the dataset saliency is the adaptive prior."""
    import pickle

    from helpers import load_tool

    tool = load_tool("run_experiment")
    monkeypatch.delenv("SALIENCY", raising=False)
    with open(tmp_path / "saliency_kde.pkl", "wb") as f:
        pickle.dump(torch.rand(1, 1, 27, 48), f)
    for method in METHODS:
        got = tool.ensure_saliency(f"configs/det2d/{method}_adaptive_fcos_0.50.py",
                                   str(tmp_path), [])
        assert got == ["--cfg-options",
                       f'model.adaptive_saliency.prior_file="{tmp_path / "saliency_kde.pkl"}"']


def test_fovea_uniform_fallbacks_are_counted_and_a_new_loop_starts_over():
    """FOVEA's empty='uniform' rule: frames that got the uniform map are counted under its
    name; every loop (a mode switch) starts the counts over."""
    model = build("fovea", empty="uniform")
    assert model.video_saliency.counts == {"boxes": 0, "uniform": 0}
    saliency_of(model, frames(0, [0]))  # first frame: the uniform map
    remember(model, 0, 0, [[10.0, 20.0, 60.0, 90.0]], [0.9])
    saliency_of(model, frames(0, [1]))
    remember(model, 0, 1, [[10.0, 20.0, 60.0, 90.0]], [0.1])  # below score_thr
    saliency_of(model, frames(0, [2]))
    assert model.video_saliency.counts == {"boxes": 1, "uniform": 2}
    model.eval()
    assert model.video_saliency.counts == {"boxes": 0, "uniform": 0}


def test_the_hook_logs_the_counts_of_a_validation_loop():
    """tools/train.py's validation: the counts are logged at the loop's end, and a loop where
    every frame fell back warns."""
    from types import SimpleNamespace

    from lzu.openmmlab.scoring_checks import ScoringChecksHook

    model = build("fovea", empty="uniform")
    hook = ScoringChecksHook(check_finite=False)
    runner = SimpleNamespace(model=model, val_evaluator=SimpleNamespace(metrics=[]))
    hook.before_val_epoch(runner)
    saliency_of(model, frames(0, [0]))
    saliency_of(model, frames(1, [0]))
    hook.after_val_epoch(runner, metrics={})
    assert hook.adaptive == {"frames": 2, "zoomed_on_detections": 0, "fell_back": 2,
                             "fallback": "uniform"}
    assert any("every one of the 2 val frames fell back to the uniform map" in w
               for w in hook.warnings)
