"""Boxes through the zoom warp (lzu.core.box_warp): FOVEA's box unwarping and GT warping."""

import numpy as np
import pytest
import torch

from lzu.core.box_saliency import boxes_to_saliency
from lzu.core.box_warp import unwarp_boxes, warp_boxes
from lzu.core.zoom import saliency_to_grid

INPUT = (1920, 1200)  # (W, H), Argoverse-HD
ZOOMED = (960, 600)
GRID = (27, 48)


def boxes(n, seed):
    g = np.random.default_rng(seed)
    xy = g.uniform(0, 0.85, (n, 2)) * INPUT
    wh = g.uniform(8, 200, (n, 2))
    return torch.from_numpy(np.concatenate([xy, np.minimum(xy + wh, INPUT)], axis=1))


def coarse_grid(separable, seed=0):
    saliency = boxes_to_saliency([boxes(12, seed)], INPUT, GRID, bandwidth=16.0, amplitude=4.0)
    return saliency_to_grid(saliency.double(), separable=separable)


def test_a_uniform_saliency_unwarps_by_the_plain_rescale():
    coarse = saliency_to_grid(torch.ones(1, 1, *GRID, dtype=torch.float64))
    zoomed = boxes(30, 1) * 0.5
    out = unwarp_boxes(zoomed, coarse, ZOOMED, INPUT)
    torch.testing.assert_close(out, zoomed * 2.0, atol=1e-6, rtol=0)
    torch.testing.assert_close(warp_boxes(out, coarse, INPUT, ZOOMED), zoomed, atol=1e-6, rtol=0)


def test_a_box_warped_and_unwarped_comes_back_to_within_a_pixel():
    """Separable (the paper's and FOVEA's setting): boxes map to boxes, exactly invertible."""
    coarse = coarse_grid(True)
    original = boxes(50, 2)
    there = warp_boxes(original, coarse, INPUT, ZOOMED)
    back = unwarp_boxes(there, coarse, ZOOMED, INPUT)
    assert (back - original).abs().max() < 1.0
    assert there.min() >= 0 and (there[:, 2] <= ZOOMED[0]).all() and (there[:, 3] <= ZOOMED[1]).all()


def test_non_separable_boxes_are_envelopes_that_contain_the_original():
    """Non-separable: a box's edges bend, so each direction takes the envelope; a round trip
    contains the original box, and its degenerate boxes (points) come back to within a pixel."""
    coarse = coarse_grid(False)
    original = boxes(50, 2)
    back = unwarp_boxes(warp_boxes(original, coarse, INPUT, ZOOMED, separable=False), coarse,
                        ZOOMED, INPUT, separable=False)
    assert (back[:, :2] <= original[:, :2] + 1.0).all() and (back[:, 2:] >= original[:, 2:] - 1.0).all()
    points = original[:, :2].repeat(1, 2)
    there = warp_boxes(points, coarse, INPUT, ZOOMED, separable=False)
    back = unwarp_boxes(there, coarse, ZOOMED, INPUT, separable=False)
    assert (back - points).abs().max() < 1.0


def test_the_warp_magnifies_boxes_where_the_saliency_is():
    salient = boxes(12, 0)
    coarse = coarse_grid(True, seed=0)
    there = warp_boxes(salient, coarse, INPUT, ZOOMED)
    area = lambda b: ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).sum()  # noqa: E731
    # a uniform downsampling to ZOOMED keeps a quarter of the area; the zoom keeps more
    assert area(there) > 1.5 * area(salient) / 4


def test_separable_corners_equal_sampled_edges():
    coarse = coarse_grid(True)
    zoomed = boxes(20, 3) * 0.5
    corners = unwarp_boxes(zoomed, coarse, ZOOMED, INPUT, separable=True)
    edges = unwarp_boxes(zoomed, coarse, ZOOMED, INPUT, separable=False, samples=33)
    torch.testing.assert_close(corners, edges, atol=1e-6, rtol=0)


def test_empty_and_bad_boxes():
    coarse = coarse_grid(True)
    assert unwarp_boxes(torch.zeros(0, 4), coarse, ZOOMED, INPUT).shape == (0, 4)
    assert warp_boxes(torch.zeros(0, 4), coarse, INPUT, ZOOMED).shape == (0, 4)
    with pytest.raises(ValueError, match="NaN"):
        unwarp_boxes(torch.tensor([[0.0, 0.0, float("nan"), 5.0]]), coarse, ZOOMED, INPUT)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        warp_boxes(torch.zeros(3), coarse, INPUT, ZOOMED)
