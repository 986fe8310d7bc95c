"""Adaptive saliency from boxes and per-image grids (lzu.core.box_saliency, lzu.core.adaptive_grid)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lzu.core.adaptive_grid import AdaptiveGrid
from lzu.core.box_saliency import BoxSaliencyError, boxes_to_saliency
from lzu.core.unzoom import unzoom
from lzu.core.zoom import zoom
from lzu.data.saliency_kde import kde_saliency

SIZE = (192, 120)  # (W, H)
GRID = (9, 16)


def random_boxes(n, seed, size=SIZE):
    g = np.random.default_rng(seed)
    w, h = size
    xy = g.uniform(0, 0.8, (n, 2)) * [w, h]
    wh = g.uniform(4, 40, (n, 2))
    return np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1)


def prior_map():
    return torch.rand(1, 1, *GRID, generator=torch.Generator().manual_seed(1)) + 0.05


@pytest.mark.parametrize("bandwidth, amplitude", [(64.0, 1.0), (8.0, 3.0)])
def test_agrees_with_the_dataset_kde_given_the_same_boxes(bandwidth, amplitude):
    boxes = random_boxes(25, seed=0)
    coco = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    ours = boxes_to_saliency([boxes], SIZE, GRID, bandwidth=bandwidth, amplitude=amplitude)
    theirs = kde_saliency(coco, SIZE, GRID, bandwidth=bandwidth, amplitude=amplitude)
    torch.testing.assert_close(ours, theirs, atol=1e-7, rtol=1e-5)


def test_prior_mix_and_empty_detections_fall_back_to_the_prior():
    prior = prior_map()
    normalised = prior / prior.sum()
    sal = boxes_to_saliency([random_boxes(5, 1), np.zeros((0, 4))], SIZE, GRID, prior=prior,
                            prior_weight=0.25)
    assert sal.shape == (2, 1, *GRID)
    torch.testing.assert_close(sal.sum(dim=(1, 2, 3)), torch.ones(2))
    torch.testing.assert_close(sal[1:], normalised)  # no detections: the prior alone
    kde = boxes_to_saliency([random_boxes(5, 1)], SIZE, GRID)
    torch.testing.assert_close(sal[:1], 0.75 * kde + 0.25 * normalised)
    assert (sal[:1] >= 0.25 * normalised - 1e-8).all()  # nothing is ever fully dropped


def test_score_threshold_keeps_only_confident_boxes():
    boxes = random_boxes(6, 2)
    scores = [torch.tensor([0.9, 0.1, 0.8, 0.05, 0.5, 0.2])]
    kept = boxes_to_saliency([boxes], SIZE, GRID, scores=scores, score_thr=0.3)
    expected = boxes_to_saliency([boxes[[0, 2, 4]]], SIZE, GRID)
    torch.testing.assert_close(kept, expected)


def test_a_batch_equals_each_image_alone():
    boxes = [random_boxes(3, 3), random_boxes(11, 4), random_boxes(1, 5)]
    prior = prior_map()
    batch = boxes_to_saliency(boxes, SIZE, GRID, prior=prior, prior_weight=0.1)
    grids = AdaptiveGrid((60, 96))
    up, coarse = grids.zoom_grids(batch)
    levels = [(15, 24), (8, 12)]
    inverses = grids.inverse_grids(coarse, levels)
    for i, b in enumerate(boxes):
        alone = boxes_to_saliency([b], SIZE, GRID, prior=prior, prior_weight=0.1)
        torch.testing.assert_close(batch[i : i + 1], alone, atol=1e-8, rtol=0)
        up_i, coarse_i = grids.zoom_grids(alone)
        torch.testing.assert_close(up[i : i + 1], up_i, atol=1e-6, rtol=0)
        for inv, inv_i in zip(inverses, grids.inverse_grids(coarse_i, levels), strict=True):
            torch.testing.assert_close(inv[i : i + 1], inv_i, atol=1e-5, rtol=0)


def test_zoom_then_unzoom_reproduces_a_smooth_map_where_covered():
    h, w = 120, 192
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    image = torch.stack([torch.sin(3 * xs + 2 * ys), torch.cos(4 * ys) * xs])[None]
    image = image.expand(2, -1, -1, -1).contiguous()
    saliency = boxes_to_saliency([random_boxes(4, 6), random_boxes(9, 7)], (w, h), GRID,
                                 bandwidth=16.0)
    grids = AdaptiveGrid((60, 96))
    up, coarse = grids.zoom_grids(saliency)
    zoomed = zoom(image, up)
    (inverse,) = grids.inverse_grids(coarse, [(60, 96)])
    restored = unzoom(zoomed, inverse)
    reference = F.interpolate(image, size=(60, 96), mode="bilinear", align_corners=True)
    covered = (inverse.abs() <= 1).all(dim=-1)[:, None].expand_as(restored)
    assert covered.float().mean() > 0.95
    err = (restored - reference).abs()[covered]
    assert err.max() < 0.05 and err.mean() < 0.01


def test_the_zoom_magnifies_the_boxes_region():
    box = np.array([[120.0, 40.0, 150.0, 60.0]])
    saliency = boxes_to_saliency([box], SIZE, GRID, bandwidth=16.0, amplitude=20.0)
    up, _ = AdaptiveGrid((60, 96)).zoom_grids(saliency)
    x = (up[0, ..., 0] + 1) / 2 * (SIZE[0] - 1)
    y = (up[0, ..., 1] + 1) / 2 * (SIZE[1] - 1)
    inside = ((x >= 120) & (x <= 150) & (y >= 40) & (y <= 60)).float().mean()
    uniform_share = (30 * 20) / (SIZE[0] * SIZE[1])
    assert inside > 2 * uniform_share


@pytest.mark.parametrize("boxes, scores, match", [
    ([[[10.0, 10.0, float("nan"), 20.0]]], None, "NaN or infinite"),
    ([[[30.0, 10.0, 20.0, 20.0]]], None, "x2 < x1"),
    ([[[300.0, 10.0, 320.0, 20.0]]], None, "entirely outside"),
    ([[[10.0, 10.0, 20.0, 20.0]]], [[float("nan")]], "score is NaN"),
    ([[[10.0, 10.0, 20.0, 20.0]]], [[0.5, 0.6]], "2 scores for 1 boxes"),
    ([np.zeros((0, 4))], None, "prior saliency is needed"),
])
def test_bad_boxes_get_one_clear_message(boxes, scores, match):
    with pytest.raises(BoxSaliencyError, match=match):
        boxes_to_saliency(boxes, SIZE, GRID, scores=scores)


def test_boxes_partly_outside_are_clipped_to_the_image():
    inside = boxes_to_saliency([[[150.0, 100.0, 192.0, 120.0]]], SIZE, GRID)
    overhanging = boxes_to_saliency([[[150.0, 100.0, 260.0, 170.0]]], SIZE, GRID)
    torch.testing.assert_close(overhanging, inside)


def test_clipping_leaves_the_callers_boxes_unchanged():
    """``torch.as_tensor`` shares a float64 array's or tensor's memory: clip a copy."""
    overhanging = np.array([[150.0, 100.0, 260.0, 170.0], [-10.0, -5.0, 30.0, 40.0]])
    array, tensor = overhanging.copy(), torch.from_numpy(overhanging.copy())
    boxes_to_saliency([array, tensor], SIZE, GRID)
    boxes_to_saliency([array], SIZE, GRID, scores=[np.ones(2)])
    np.testing.assert_array_equal(array, overhanging)
    assert torch.equal(tensor, torch.from_numpy(overhanging))


@pytest.mark.parametrize("kwargs, match", [
    (dict(bandwidth=0.0), "bandwidth"), (dict(amplitude=-1.0), "amplitude"),
    (dict(prior_weight=1.5), "prior_weight"), (dict(grid_shape=(1, 5)), "grid_shape"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(BoxSaliencyError, match=match):
        boxes_to_saliency([random_boxes(2, 0)], SIZE, **{"grid_shape": GRID, **kwargs})


def test_adaptive_grid_refuses_bad_saliency_and_settings():
    with pytest.raises(ValueError, match="attraction_fwhm"):
        AdaptiveGrid((60, 96), attraction_fwhm=0)
    grids = AdaptiveGrid((60, 96))
    with pytest.raises(ValueError, match="finite"):
        grids.zoom_grids(torch.full((1, 1, *GRID), float("inf")))
    with pytest.raises(ValueError, match="positive total"):
        grids.zoom_grids(torch.zeros(1, 1, *GRID))
