"""No write follows a symbolic link: links planted before and during a run, in every folder the
project writes (the work dir and its timestamp folders, mmengine's images, the GPU check's
scratch and JUnit file, the evidence benchmark's and the demos' logs and work dirs, the
synthetic sets, info files, saliencies and Argoverse-HD copies), are refused with one line
naming the link and its target, or replaced, and the file they point to is never touched."""

import base64
import hashlib
import json
import os
import os.path as osp
import sys
import zipfile

import pytest
from conftest import ROOT, run_tool
from helpers import BASELINE, QUIET_TRAIN, load_tool

import lzu.openmmlab  # noqa: F401  (installs the mmengine patches)
from lzu.infra.atomic_io import (
    LinkError,
    atomic_open,
    check_not_link,
    hold_root,
    open_nofollow,
    write_open,
)
from lzu.infra.errors import UserInputError

OUTSIDE = "precious data outside the work dir\n"


@pytest.fixture
def outside(tmp_path):
    """A file outside every folder the test writes, which no write may reach."""
    path = tmp_path / "outside" / "precious.txt"
    path.parent.mkdir()
    path.write_text(OUTSIDE)
    return path


def _untouched(outside):
    assert outside.read_text() == OUTSIDE
    assert sorted(p.name for p in outside.parent.iterdir()) == ["precious.txt"]


# ------------------------------------------------------------ the mechanism


@pytest.mark.parametrize("mode", ["w", "a", "a+", "wb", "r+"])
def test_a_file_written_in_place_is_never_opened_through_a_link(tmp_path, outside, mode):
    link = tmp_path / "run.log"
    link.symlink_to(outside)
    with pytest.raises(LinkError) as err:
        open_nofollow(str(link), mode)
    assert str(link) in str(err.value) and str(outside) in str(err.value)
    assert isinstance(err.value, UserInputError) and "\n" not in str(err.value)
    _untouched(outside)


def test_no_write_below_a_held_folder_follows_a_linked_subfolder(tmp_path, outside):
    work = tmp_path / "work"
    (work / "ts").mkdir(parents=True)
    (work / "ts" / "vis_data").symlink_to(outside.parent)
    hold_root(str(work))
    for write in (lambda p: open_nofollow(p, "a"), lambda p: atomic_open(p).__enter__()):
        for name in ("scalars.json", "new/deeper.json"):
            with pytest.raises(LinkError, match=rf"'{work}/ts/vis_data' is a symbolic link \(to "
                                                 rf"'{outside.parent}'\)"):
                write(str(work / "ts" / "vis_data" / name))
    _untouched(outside)
    with open_nofollow(str(work / "a" / "b" / "log.txt"), "a", encoding="utf-8") as f:
        f.write("made on the way")  # missing subfolders are created
    assert (work / "a" / "b" / "log.txt").read_text() == "made on the way"


def test_the_held_folder_itself_may_be_a_link(tmp_path):
    scratch = tmp_path / "scratch_disk"
    scratch.mkdir()
    (tmp_path / "work").symlink_to(scratch)
    hold_root(str(tmp_path / "work"))
    with atomic_open(str(tmp_path / "work" / "sub" / "m.json")) as f:
        f.write("{}")
    assert (scratch / "sub" / "m.json").read_text() == "{}"


def test_an_atomic_write_replaces_a_link_at_its_name(tmp_path, outside):
    link = tmp_path / "metrics.json"
    link.symlink_to(outside)
    with atomic_open(str(link)) as f:
        f.write("new")
    assert not link.is_symlink() and link.read_text() == "new"
    _untouched(outside)


def test_write_open_reads_like_open_and_refuses_writes_through_a_link(tmp_path, outside):
    with write_open(str(outside)) as f:
        assert f.read() == OUTSIDE
    with write_open(str(tmp_path / "plain.txt"), "w") as f:
        f.write("x")
    assert (tmp_path / "plain.txt").read_text() == "x"
    (tmp_path / "link.txt").symlink_to(outside)
    with pytest.raises(LinkError):
        write_open(str(tmp_path / "link.txt"), "w")
    _untouched(outside)


def test_a_fifo_or_a_folder_at_the_name_is_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(LinkError, match="not a plain file"):
        open_nofollow(str(tmp_path / "fifo"), "w")
    (tmp_path / "linked").symlink_to(tmp_path / "fifo")
    with pytest.raises(LinkError, match="symbolic link"):
        check_not_link(str(tmp_path / "linked"))


def test_a_locked_work_dir_is_held(tmp_path, outside):
    from lzu.infra.workdir import acquire_lock

    work = tmp_path / "locked"
    acquire_lock(str(work))
    (work / "20240101_000000").symlink_to(outside.parent)
    with pytest.raises(LinkError, match="20240101_000000' is a symbolic link"):
        atomic_open(str(work / "20240101_000000" / "x.py")).__enter__()
    _untouched(outside)


# ------------------------------------------------------------ what mmengine writes for us


def test_mmengine_config_dump_scalars_and_log_file_refuse_links(tmp_path, outside):
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.visualization import LocalVisBackend

    for name in ("config.py", "scalars.json", "run.log"):
        (tmp_path / name).symlink_to(outside)
    with pytest.raises(LinkError, match="config.py"):
        Config(dict(a=1)).dump(str(tmp_path / "config.py"))
    backend = LocalVisBackend(str(tmp_path))
    with pytest.raises(LinkError, match="scalars.json"):
        backend.add_scalars({"loss": 1.0})
    with pytest.raises(LinkError, match="run.log"):
        MMLogger.get_instance("links_test", log_file=str(tmp_path / "run.log"))
    _untouched(outside)


def test_mmengine_images_are_never_written_through_a_link(tmp_path, outside):
    """``LocalVisBackend.add_image`` (the visualisation hook's images): a link at the image's
    name is replaced, a linked ``vis_image`` folder below a held work dir refused."""
    import numpy as np
    from mmengine.visualization import LocalVisBackend

    image = np.zeros((4, 6, 3), np.uint8)
    first = LocalVisBackend(str(tmp_path / "a"))
    (tmp_path / "a" / "vis_image").mkdir(parents=True)
    (tmp_path / "a" / "vis_image" / "frame_0.png").symlink_to(outside)
    first.add_image("frame", image)
    assert not (tmp_path / "a" / "vis_image" / "frame_0.png").is_symlink()
    hold_root(str(tmp_path / "b"))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "vis_image").symlink_to(outside.parent)
    with pytest.raises(LinkError, match=r"vis_image' is a symbolic link"):
        LocalVisBackend(str(tmp_path / "b")).add_image("frame", image, step=1)
    _untouched(outside)


PLANTER = '''
import os
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class PlantLinks(Hook):
    """After the first iteration (and its checkpoint), a link replaces a file mmengine writes."""

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter != 1:
            return
        folder, name = os.environ["LZU_TEST_PLANT"].split(":")
        path = os.path.join(runner.work_dir if folder == "work" else runner.log_dir, name)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(os.environ["LZU_TEST_OUTSIDE"], path)
'''


@pytest.mark.parametrize("plant", ["work:last_checkpoint", "log:vis_data/scalars.json"])
def test_links_planted_during_training_are_refused_in_one_line(synthetic_root, tmp_path, outside,
                                                               plant):
    """tools/train.py: after iteration 1 (checkpoint written), a hook plants ``last_checkpoint``
    (the CheckpointHook's) or ``<timestamp>/vis_data/scalars.json`` (the LocalVisBackend's) as
    a link to a file outside the work dir; the next write through it is refused with one line
    naming the link and its target."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "plant_links.py").write_text(PLANTER)
    config = tmp_path / "planted.py"
    config.write_text(f"_base_ = [{osp.join(ROOT, BASELINE)!r}]\n"
                      "custom_imports = dict(imports=['plant_links'], allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='PlantLinks')]\n")
    work = tmp_path / "work"
    result = run_tool(["tools/train.py", str(config), "--work-dir", str(work), "--data-root",
                       synthetic_root, "--cfg-options", "train_cfg.max_iters=3",
                       "train_cfg.val_interval=100", "default_hooks.checkpoint.interval=1",
                       "val_cfg=None", "val_dataloader=None", "val_evaluator=None", *QUIET_TRAIN],
                      env={"PYTHONPATH": str(plugin), "LZU_TEST_OUTSIDE": str(outside),
                           "LZU_TEST_PLANT": plant})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    name = plant.split(":")[1]
    assert lines[-1].startswith("error: refusing to write '"), lines[-1]
    assert f"{name}': it is a symbolic link (to '{outside}')" in lines[-1], lines[-1]
    assert (work / "iter_1.pth").is_file()
    _untouched(outside)


# ------------------------------------------------------------ the project's own writers


def _fake_wheel(folder):
    """A pure-Python wheel pip installs (``lzuprobe``), made by hand."""
    files = {"lzuprobe/__init__.py": b"",
             "lzuprobe-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: lzuprobe\nVersion: 0.1\n",
             "lzuprobe-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
                                             b"Root-Is-Purelib: true\nTag: py3-none-any\n"}
    record = ""
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(data)}\n"
    files["lzuprobe-0.1.dist-info/RECORD"] = (record + "lzuprobe-0.1.dist-info/RECORD,,\n").encode()
    wheel = folder / "lzuprobe-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel


def test_gpu_check_refuses_a_linked_scratch_site_instead_of_installing_into_its_target(
        tmp_path, outside):
    pack = tmp_path / "pack"
    pack.mkdir()
    wheel = _fake_wheel(pack)
    data = wheel.read_bytes()
    manifest = {"files": [{"file": wheel.name, "bytes": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}],
                "mmcv_sdist": "mmcv-2.1.0.tar.gz", "python": "3.11",
                "platforms": ["manylinux2014_x86_64"]}
    (pack / "manifest.json").write_text(json.dumps(manifest))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "site").symlink_to(outside.parent)
    out = tmp_path / "out"
    result = run_tool(["tools/gpu_check.py", "--out", str(out), "--scratch", str(scratch),
                       "--pack", str(pack), "--stages", "2"])
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    install = {s["step"]: s for s in report["stages"]["2"]["steps"]}["install"]
    assert install["status"] == "failed"
    assert f"'{scratch / 'site'}': it is a symbolic link (to '{outside.parent}')" in install["detail"]
    _untouched(outside)


def test_gpu_check_refuses_a_linked_source_folder(tmp_path, outside):
    import tarfile

    gpu_check = load_tool("gpu_check")
    pack = tmp_path / "pack"
    (pack / "mmcv-2.1.0").mkdir(parents=True)
    (pack / "mmcv-2.1.0" / "setup.py").write_text("# -std=c++20\n")
    with tarfile.open(pack / "mmcv-2.1.0.tar.gz", "w:gz") as tar:
        tar.add(pack / "mmcv-2.1.0", arcname="mmcv-2.1.0")
    manifest = {"mmcv_sdist": "mmcv-2.1.0.tar.gz",
                "files": [{"file": "mmcv-2.1.0.tar.gz", "sha256": "ab" * 32}]}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "mmcv-2.1.0").symlink_to(outside.parent)
    with pytest.raises(LinkError, match=r"mmcv-2.1.0': it is a symbolic link"):
        gpu_check.extract_sdist(manifest, str(pack), str(scratch))
    _untouched(outside)


class _FakeWorker:
    def __init__(self, *args, **kwargs):
        self.stdout = iter(["[evidence] worker output\n"])
        self.returncode = 0

    def wait(self):
        return 0


def test_evidence_worker_logs_are_never_written_through_a_link(tmp_path, outside, monkeypatch):
    evidence = load_tool("evidence")
    monkeypatch.setattr(evidence.subprocess, "Popen", _FakeWorker)
    args = evidence.parse_args(["--work-dir", str(tmp_path / "wd"), "--out", str(tmp_path / "wd")])
    (tmp_path / "wd").mkdir()
    (tmp_path / "wd" / "det3d.log").symlink_to(outside)
    with pytest.raises(LinkError, match=rf"det3d.log': it is a symbolic link \(to '{outside}'\)"):
        evidence.run_task(args, "det3d")
    _untouched(outside)


def test_demo_step_logs_are_never_written_through_a_link(tmp_path, outside):
    from lzu.apis.demos import run

    (tmp_path / "train.log").symlink_to(outside)
    with pytest.raises(LinkError, match="train.log"):
        run([sys.executable, "-c", "print('step')"], log=str(tmp_path / "train.log"))
    _untouched(outside)


def test_demo_steps_refuse_a_link_planted_in_the_work_dir_and_never_delete_through_one(
        tmp_path, outside, monkeypatch):
    """Before each step (another process writing below the work dir) the demo walks its work
    dir again: a link planted since start-up is refused; a link is removed, never followed."""
    import argparse

    from lzu.apis import demos

    monkeypatch.setattr(demos, "_WORK_DIRS", [], raising=False)
    wd = tmp_path / "demo"
    args = argparse.Namespace(work_dir=str(wd), fresh=False, seed=0, scenes=(1, 1), samples=2,
                              iters=1)
    demos.start_work_dir(args)
    (wd / "nuscenes").symlink_to(outside.parent)  # planted between two steps
    marker = tmp_path / "ran"
    with pytest.raises(UserInputError, match=rf"symbolic link '{wd}/nuscenes' -> '{outside.parent}'"):
        demos.run([sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    assert not marker.exists()
    demos.remove(str(wd / "nuscenes"))  # e.g. the demo's derived data, regenerated
    assert not (wd / "nuscenes").exists()
    _untouched(outside)


# ------------------------------------------------------------ data tools

PLANT_IN_GENERATOR = '''
import os, runpy, sys
from lzu.data.synthetic import nuscenes_writer

render, calls = nuscenes_writer._render_camera, []


def planting(tracks, k, ego, cam, background):
    """At the second key frame, the first camera's folder becomes a link to the outside."""
    calls.append(cam.channel)
    if len(calls) == 7:
        folder = os.path.join(sys.argv[2], "samples", cam.channel)
        os.rename(folder, folder + ".moved")
        os.symlink(os.environ["LZU_TEST_OUTSIDE"], folder)
    return render(tracks, k, ego, cam, background)


nuscenes_writer._render_camera = planting
runpy.run_path("tools/make_synthetic_nuscenes.py", run_name="__main__")
'''


def test_make_synthetic_nuscenes_refuses_a_folder_link_planted_while_it_writes(tmp_path, outside):
    root = tmp_path / "nusc"
    result = run_tool(["-c", PLANT_IN_GENERATOR, "--root", str(root), "--train-scenes", "1",
                       "--val-scenes", "0", "--samples-per-scene", "2", "--image-size", "320", "180"],
                      env={"LZU_TEST_OUTSIDE": str(outside.parent)})
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert last.startswith("make_synthetic_nuscenes: error: refusing to write '"), last
    assert f"'{root}/samples/CAM_FRONT' is a symbolic link (to '{outside.parent}')" in last, last
    _untouched(outside)


PLANT_IN_CONVERTER = '''
import os, runpy
from lzu.data import data_prep

load = data_prep.load_mim_module


def planting(relpath, name):
    """The converter's first info file (a temporary name) is a link when it is written."""
    module = load(relpath, name)
    if "nuscenes_converter" in relpath:
        create = module.create_nuscenes_infos

        def plant_then_create(root, prefix, **kwargs):
            os.symlink(os.environ["LZU_TEST_OUTSIDE"], os.path.join(root, f"{prefix}_infos_train.pkl"))
            return create(root, prefix, **kwargs)

        module.create_nuscenes_infos = plant_then_create
    return module


data_prep.load_mim_module = planting
runpy.run_path("tools/create_data.py", run_name="__main__")
'''


def test_create_data_never_writes_its_info_files_through_a_link(synthetic_root, tmp_path, outside):
    """tools/create_data.py: a link at a final info file's name (planted before) and at the
    converter's temporary one (planted while it runs) are replaced, never written through."""
    import shutil

    from lzu.data.infos import load_infos

    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root, ignore=shutil.ignore_patterns("*.pkl"))
    (root / "nuscenes_infos_val.pkl").symlink_to(outside)
    result = run_tool(["-c", PLANT_IN_CONVERTER, "--root-path", str(root), "--version",
                       "v1.0-mini", "--max-sweeps", "0"], env={"LZU_TEST_OUTSIDE": str(outside)})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    _untouched(outside)
    for split in ("train", "val"):
        path = root / f"nuscenes_infos_{split}.pkl"
        assert not path.is_symlink() and load_infos(str(path))
    assert sorted(p.name for p in root.glob("*.pkl")) == ["nuscenes_infos_train.pkl",
                                                          "nuscenes_infos_val.pkl"]


def test_make_saliency_replaces_a_link_at_its_output_name(seg_saliency_root, tmp_path, outside):
    out = tmp_path / "saliency.pkl"
    out.symlink_to(outside)
    result = run_tool(["tools/make_saliency.py", "--seg-labels",
                       osp.join(seg_saliency_root, "gtFine", "train"), "--out", str(out), "--force"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert not out.is_symlink() and out.stat().st_size > 0
    _untouched(outside)


def test_argoverse_frames_are_never_written_through_a_link(synthetic_root, tmp_path, outside):
    """The 2-D demo's step 2, below its held work dir: a linked folder is refused, a link at
    an image's name replaced."""
    from lzu.data.argoverse_hd import write_argoverse_hd_from_nuscenes

    wd = tmp_path / "wd"
    hold_root(str(wd))
    data = wd / "data"
    (data / "Argoverse-1.1" / "tracking").mkdir(parents=True)
    (data / "Argoverse-1.1" / "tracking" / "train").symlink_to(outside.parent)
    with pytest.raises(LinkError, match=rf"tracking/train' is a symbolic link \(to '{outside.parent}'\)"):
        write_argoverse_hd_from_nuscenes(synthetic_root, str(data))
    _untouched(outside)
    (data / "Argoverse-1.1" / "tracking" / "train").unlink()
    write_argoverse_hd_from_nuscenes(synthetic_root, str(data))
    image = next((data / "Argoverse-1.1" / "tracking" / "val").rglob("*.jpg"))
    image.unlink()
    image.symlink_to(outside)
    write_argoverse_hd_from_nuscenes(synthetic_root, str(data))
    assert not image.is_symlink() and image.stat().st_size > 1000
    _untouched(outside)


PLANT_IN_PYTEST = '''
import os


def test_plants_a_link_at_the_junit_file():
    os.symlink({outside!r}, {xml!r})
'''


def test_gpu_check_junit_xml_is_never_written_through_a_link(tmp_path, outside):
    """pytest writes its JUnit XML with a plain open(): a link planted at its name while the
    tests run is replaced by the report's copy, never written through."""
    import argparse

    gpu_check = load_tool("gpu_check")
    scratch, out = tmp_path / "scratch", tmp_path / "out"
    scratch.mkdir()
    hold_root(str(scratch))
    test_file = tmp_path / "test_planter.py"
    test_file.write_text(PLANT_IN_PYTEST.format(outside=str(outside),
                                                xml=str(scratch / "pytest_core.xml")))
    report = gpu_check.Report(str(out), 600)
    args = argparse.Namespace(scratch=str(scratch), out=str(out))
    entry = gpu_check.pytest_step(report, "1", "grids", [str(test_file)], None, args,
                                  "pytest_core", 600)
    assert entry["status"] == "passed", entry
    assert entry["pytest"]["tests"] == {"test_planter::test_plants_a_link_at_the_junit_file": "passed"}
    xml = scratch / "pytest_core.xml"
    assert not xml.is_symlink() and "<testsuites" in xml.read_text()
    _untouched(outside)
