"""Saliency files and grid settings: every bad value is refused at construction, or by the train
tool in one line naming the file or the key."""

import pytest
import torch
from conftest import run_tool
from helpers import LZU, QUIET, assert_clean_error, write_saliency

# ------------------------------------------------------------ through the train tool


@pytest.mark.parametrize(
    "tensor, message",
    [
        (torch.ones(1, 1, 20, 48), "does not match grid_shape (27, 48)"),
        (torch.full((1, 1, 27, 48), float("nan")), "NaN or Inf"),
        (-torch.ones(1, 1, 27, 48), "negative values"),
        (torch.zeros(1, 1, 27, 48), "sums to zero"),
        ([1, 2, 3], "expected a tensor"),
    ],
)
def test_bad_saliency_through_the_train_tool(synthetic_root, tmp_path, tensor, message):
    path = write_saliency(tmp_path / "bad_saliency.pkl", tensor)
    result = run_tool(["tools/train.py", LZU, "--data-root", synthetic_root, "--work-dir",
                       str(tmp_path / "w"), "--cfg-options",
                       f"model.grid_generator.saliency_file={path}"])
    assert_clean_error(result, "bad_saliency.pkl", message)


def test_missing_saliency_file(synthetic_root, tmp_path):
    result = run_tool(["tools/train.py", LZU, "--data-root", synthetic_root, "--work-dir",
                       str(tmp_path / "w"), "--cfg-options",
                       f"model.grid_generator.saliency_file={tmp_path / 'none.pkl'}"])
    assert_clean_error(result, "none.pkl' not found", "tools/make_saliency.py")


@pytest.mark.parametrize(
    "shape, message",
    [("(1000,2000)", "larger than the input image"), ("(300,400)", "different aspect ratio")],
)
def test_bad_output_shape_through_the_train_tool(synthetic_root, tmp_path, shape, message):
    saliency = write_saliency(tmp_path / "s.pkl", torch.ones(1, 1, 27, 48) / (27 * 48))
    result = run_tool(["tools/train.py", LZU, "--data-root", synthetic_root, "--work-dir",
                       str(tmp_path / "w"), "--cfg-options",
                       f"model.grid_generator.saliency_file={saliency}",
                       f"model.grid_generator.output_shape={shape}", "train_cfg.max_iters=1",
                       "model.zoom_region=padded",  # the paper's frame; 'image' allows both
                       "train_dataloader.batch_size=1", *QUIET])
    assert_clean_error(result, "grid_generator.output_shape", message)


# ------------------------------------------------------------ at construction


@pytest.mark.parametrize("shape", [(225.5, 400), (225, 400, 3), (0, 400), (-225, 400), "225x400",
                                   (True, 400)])
def test_output_shape_must_be_two_positive_integers(shape):
    from lzu.core.fixed_grid import FixedGrid, GridShapeError

    with pytest.raises(GridShapeError, match="two whole numbers"):
        FixedGrid(torch.ones(1, 1, 27, 48), output_shape=shape)


@pytest.mark.parametrize("fwhm", [0, -1, float("nan"), float("inf")])
def test_attraction_fwhm_must_be_positive(fwhm):
    from lzu.core.fixed_grid import FixedGrid, GridSettingError

    with pytest.raises(GridSettingError, match="attraction_fwhm must be a positive number"):
        FixedGrid(torch.ones(1, 1, 4, 6), output_shape=(8, 12), grid_shape=(4, 6),
                  attraction_fwhm=fwhm)


def test_overflowing_saliency_is_refused_at_construction():
    from lzu.core.fixed_grid import FixedGrid, GridSettingError

    huge = torch.full((1, 1, 27, 48), 3e38)
    with pytest.raises(GridSettingError, match="not finite .* overflow"):
        FixedGrid(huge, output_shape=(90, 160))
    grid = FixedGrid((huge.double() / huge.double().sum()).float(), output_shape=(90, 160))
    up, coarse = grid(torch.zeros(1, 3, 90, 160))
    assert torch.isfinite(up).all() and torch.isfinite(coarse).all()


def test_core_zoom_refuses_a_zero_fwhm():
    from lzu.core.zoom import saliency_to_grid

    with pytest.raises(ValueError, match="fwhm must be a positive number"):
        saliency_to_grid(torch.ones(1, 1, 4, 4), attraction_fwhm=0)


# ------------------------------------------------------------ every grid generator, one check


def _fixed(**settings):
    from lzu.core.fixed_grid import FixedGrid

    return FixedGrid(torch.ones(1, 1, 4, 6), **{"output_shape": (8, 12), "grid_shape": (4, 6),
                                                **settings})


def _adaptive(**settings):
    from lzu.core.adaptive_grid import AdaptiveGrid

    return AdaptiveGrid(**{"output_shape": (8, 12), "grid_shape": (4, 6), **settings})


BAD_GRID_SETTINGS = [
    (dict(attraction_fwhm=-1), "attraction_fwhm must be a positive number"),
    (dict(attraction_fwhm=0), "attraction_fwhm must be a positive number"),
    (dict(attraction_fwhm=float("nan")), "attraction_fwhm must be a positive number"),
    (dict(attraction_fwhm=float("inf")), "attraction_fwhm must be a positive number"),
    (dict(attraction_fwhm="10"), "attraction_fwhm must be a positive number"),
    (dict(attraction_fwhm=True), "attraction_fwhm must be a positive number"),
    (dict(output_shape=(1, 1)), "output_shape 1x1 must be two whole numbers"),
    (dict(grid_shape=(1, 1)), "grid_shape 1x1 must be two whole numbers"),
    (dict(separable="False"), "separable must be True or False"),
    (dict(anti_crop=2), "anti_crop must be True or False"),
]


@pytest.mark.parametrize("make", [_fixed, _adaptive], ids=["FixedGrid", "AdaptiveGrid"])
@pytest.mark.parametrize("settings, message", BAD_GRID_SETTINGS)
def test_every_grid_generator_refuses_bad_settings_alike(make, settings, message):
    from lzu.core.errors import GridSettingError
    from lzu.infra.errors import UserInputError

    with pytest.raises(GridSettingError, match=message) as err:
        make(**settings)
    assert isinstance(err.value, UserInputError)


def test_adaptive_grid_refuses_an_unknown_border():
    from lzu.core.errors import GridSettingError

    with pytest.raises(GridSettingError, match="border must be one of"):
        _adaptive(border="wide")


def test_grid_generators_keep_good_settings():
    for make in (_fixed, _adaptive):
        grid = make(attraction_fwhm=12.5, separable=False, anti_crop=1)
        assert (grid.attraction_fwhm, grid.separable, grid.anti_crop) == (12.5, False, True)


ADAPTIVE_CONFIG = "configs/det2d/demo/lzu_adaptive_fcos_demo.py"
FOVEA_ADAPTIVE_CONFIG = "configs/det2d/fovea_adaptive_fcos_0.50.py"


@pytest.mark.parametrize("tool", ["tools/train.py", "tools/test.py"])
@pytest.mark.parametrize("config, option, message", [
    (ADAPTIVE_CONFIG, "attraction_fwhm=-1", "attraction_fwhm must be a positive number"),
    (ADAPTIVE_CONFIG, "output_shape=(1,1)", "output_shape 1x1 must be two whole numbers"),
    (FOVEA_ADAPTIVE_CONFIG, "grid_shape=(1,1)", "grid_shape 1x1 must be two whole numbers"),
    (LZU, "attraction_fwhm=0", "attraction_fwhm must be a positive number"),
])
def test_bad_grid_settings_through_the_tools(tool, config, option, message, tmp_path):
    """One line, before any data is read (the data root here does not exist)."""
    args = [tool, config, *([str(tmp_path / "none.pth")] if tool.endswith("test.py") else []),
            "--data-root", str(tmp_path / "none"), "--work-dir", str(tmp_path / "w"),
            "--cfg-options", f"model.grid_generator.{option}"]
    assert_clean_error(run_tool(args), f"model.grid_generator.{message}")
