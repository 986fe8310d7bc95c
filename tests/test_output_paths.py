"""Every tool given an output path checks it before its work (lzu/infra/output_paths.py).

A folder where a file is expected, a file where a folder is expected, or a path below a file
ends the tool with one line naming the option and the path, and nothing else was written:
no data set, saliency, figure, benchmark or training started.
"""


import pytest
from conftest import run_tool
from helpers import BASELINE, LZU, assert_clean_error, write_coco_set
from PIL import Image


def _inputs(tmp_path):
    """Valid inputs, so that only the output path is wrong."""
    write_coco_set(str(tmp_path / "argo"))
    Image.new("RGB", (64, 48), (90, 40, 10)).save(tmp_path / "frame.png")
    (tmp_path / "blocker").write_text("")
    (tmp_path / "folder").mkdir()
    coco = tmp_path / "argo" / "Argoverse-HD" / "annotations" / "train.json"
    return {"coco": str(coco), "image": str(tmp_path / "frame.png")}


# (tool and arguments, the option, which bad path): "folder" is an existing folder given for a
# file, "file" an existing file given for a folder, "under" a path below a file.
CASES = [
    (lambda p, i: ["tools/make_saliency.py", "--coco", i["coco"], "--out", p], "--out", "folder"),
    (lambda p, i: ["tools/make_saliency.py", "--coco", i["coco"], "--out", p], "--out", "under"),
    (lambda p, i: ["tools/visualize_zoom.py", LZU, "--image", i["image"], "--out", p], "--out",
     "folder"),
    (lambda p, i: ["tools/benchmark_zoom.py", "--adaptive", "--repeats", "1", "--json", p],
     "--json", "folder"),
    (lambda p, i: ["tools/benchmark.py", BASELINE, "--fake-inputs", "--frame-size", "64", "48",
                   "--warmup", "0", "--iters", "1", "--paper-results", "", "--out-dir", p],
     "--out-dir", "file"),
    (lambda p, i: ["tools/evidence_sidecheck.py", "--iters", "1", "--out", p], "--out", "folder"),
    (lambda p, i: ["tools/evidence_sidecheck.py", "--iters", "1", "--work-dir", p], "--work-dir",
     "under"),
    (lambda p, i: ["tools/evidence.py", "--from-json", "--out", p], "--out", "file"),
    (lambda p, i: ["tools/evidence.py", "--report-only", "--work-dir", p], "--work-dir", "under"),
    (lambda p, i: ["tools/make_synthetic_nuscenes.py", "--root", p], "--root", "file"),
    (lambda p, i: ["tools/make_synthetic_cityscapes.py", "--root", p, "--train-frames", "1",
                   "--val-frames", "1", "--size", "64", "128"], "--root", "under"),
    (lambda p, i: ["tools/create_data.py", "--root-path", p, "--version", "v1.0-mini"],
     "--root-path", "file"),
    (lambda p, i: ["tools/demo.py", "--work-dir", p], "--work-dir", "file"),
    (lambda p, i: ["tools/demo_det2d.py", "--work-dir", p], "--work-dir", "under"),
    (lambda p, i: ["tools/demo_seg.py", "--work-dir", p], "--work-dir", "file"),
    (lambda p, i: ["tools/run_experiment.py", "det2d/fcos_uniform_0.50", "--work-dir", p],
     "--work-dir", "file"),
    (lambda p, i: ["tools/train.py", BASELINE, "--work-dir", p], "--work-dir", "under"),
    (lambda p, i: ["tools/test.py", BASELINE, "missing.pth", "--work-dir", p], "--work-dir",
     "file"),
    (lambda p, i: ["tools/gpu_pack.py", "--out", p], "--out", "file"),
]


def _snapshot(root):
    return sorted(str(p) for p in root.rglob("*"))


@pytest.mark.parametrize(("build", "option", "bad"), CASES,
                         ids=[f"{c[0]('P', {'coco': '', 'image': ''})[0][6:-3]}{c[1]}-{c[2]}"
                              for c in CASES])
def test_a_bad_output_path_is_refused_before_any_work(build, option, bad, tmp_path):
    inputs = _inputs(tmp_path)
    path = {"folder": tmp_path / "folder", "file": tmp_path / "blocker",
            "under": tmp_path / "blocker" / "out"}[bad]
    before = _snapshot(tmp_path)
    result = run_tool(build(str(path), inputs))
    why = {"folder": "is a folder; give a file name", "file": "is a file, not a folder",
           "under": f"'{tmp_path / 'blocker'}' is a file, not a folder"}[bad]
    assert_clean_error(result, f"{option} '{path}'", why)
    assert _snapshot(tmp_path) == before  # nothing was made: no data, figure, log or report
    assert (tmp_path / "blocker").read_text() == ""
