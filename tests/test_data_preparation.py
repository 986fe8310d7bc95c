"""Data preparation and the synthetic sets: image sizes recorded, interrupted runs never taken as
complete, regenerated sets leave nothing stale, planted links never written through."""

import os
import os.path as osp
import shutil

import pytest
from PIL import Image

# ------------------------------------------------------------ info files


def test_data_preparation_records_every_image_size(synthetic_root):
    from lzu.data.infos import load_infos

    checked = 0
    for split in ("train", "val"):
        for info in load_infos(osp.join(synthetic_root, f"nuscenes_infos_{split}.pkl")):
            for cam, img in info["images"].items():
                if "img_path" not in img:
                    continue
                path = osp.join(synthetic_root, "samples", cam, img["img_path"])
                with Image.open(path) as im:
                    assert (img["width"], img["height"]) == im.size
                checked += 1
    assert checked > 0


def test_interrupted_data_preparation_leaves_no_v1_files(synthetic_root, tmp_path, monkeypatch):
    from lzu.data import data_prep

    root = tmp_path / "nusc"
    shutil.copytree(synthetic_root, root)
    for f in root.glob("nuscenes_infos_*.pkl"):
        f.unlink()
    real = data_prep.load_mim_module

    def interrupted(relpath, name):
        module = real(relpath, name)
        if "update_infos" in relpath:
            def stop(*_, **__):
                raise KeyboardInterrupt
            module.update_pkl_infos = stop
        return module

    monkeypatch.setattr(data_prep, "load_mim_module", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data_prep.create_mono3d_infos(str(root), version="v1.0-mini", max_sweeps=0)
    assert sorted(p.name for p in root.glob("*.pkl")) == []
    monkeypatch.setattr(data_prep, "load_mim_module", real)
    paths = data_prep.create_mono3d_infos(str(root), version="v1.0-mini", max_sweeps=0)
    from lzu.data.infos import load_infos

    assert all(load_infos(p) for p in paths) and len(paths) == 2


# ------------------------------------------------------------ synthetic sets


def test_an_interrupted_synthetic_set_is_never_taken_as_complete(tmp_path, monkeypatch):
    from lzu.data.synthetic import cityscapes_writer
    from lzu.data.synthetic.completion import check_complete

    options = dict(train_frames=3, val_frames=2, size=[32, 64], seed=0)
    root = tmp_path / "cs"
    real, calls = cityscapes_writer.render_frame, []

    def killed(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # a kill half-way through
        return real(*args)

    monkeypatch.setattr(cityscapes_writer, "render_frame", killed)
    with pytest.raises(KeyboardInterrupt):
        cityscapes_writer.write_synthetic_cityscapes(str(root), 3, 2, (32, 64), 0)
    assert (root / "gtFine" / "train").is_dir()  # what the demos used to trust
    assert "no completion record" in check_complete(str(root), options)
    monkeypatch.setattr(cityscapes_writer, "render_frame", real)
    cityscapes_writer.write_synthetic_cityscapes(str(root), 3, 2, (32, 64), 0)
    assert check_complete(str(root), options) is None
    assert "other options" in check_complete(str(root), dict(options, seed=1))
    label = sorted((root / "gtFine" / "val").rglob("*.png"))[-1]
    label.write_bytes(label.read_bytes()[:100])  # truncated afterwards
    assert "bytes" in check_complete(str(root), options)


def test_regenerating_a_nuscenes_set_removes_its_old_info_files(tmp_path):
    from lzu.data.synthetic import write_synthetic_nuscenes

    root = tmp_path / "nusc"
    write_synthetic_nuscenes(str(root), train_scenes=1, val_scenes=1, samples_per_scene=2)
    (root / "nuscenes_infos_val.pkl").write_bytes(b"infos of the old split")
    write_synthetic_nuscenes(str(root), train_scenes=1, val_scenes=1, samples_per_scene=2, seed=1)
    assert not (root / "nuscenes_infos_val.pkl").exists()


def test_synthetic_sets_never_write_through_planted_links(tmp_path):
    from lzu.data.synthetic import write_synthetic_cityscapes

    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious")
    root = tmp_path / "cs"
    write_synthetic_cityscapes(str(root), 1, 1, (32, 64), 0)
    marker = root / ".lzu_synthetic_cityscapes"
    marker.unlink()
    marker.symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_synthetic_cityscapes(str(root), 1, 1, (32, 64), 0)
    assert victim.read_text() == "precious"
    marker.unlink()
    marker.write_text("{}")  # the set is ours again
    write_synthetic_cityscapes(str(root), 1, 1, (32, 64), 0)
    shutil.rmtree(root / "gtFine")
    (root / "gtFine").symlink_to(outside)  # a planted folder link in our own set
    write_synthetic_cityscapes(str(root), 1, 1, (32, 64), 0)
    assert os.listdir(outside) == ["victim.txt"] and victim.read_text() == "precious"
    assert not (root / "gtFine").is_symlink()


@pytest.mark.parametrize("layout", ["cityscapes", "street"])
def test_a_link_planted_in_a_synthetic_set_while_it_is_written_is_refused(tmp_path, monkeypatch,
                                                                          layout):
    """The set's root is held: a folder of it that becomes a link half-way is refused with one
    line naming it, and nothing is written through it."""
    from lzu.data.synthetic import cityscapes_writer, street_argoverse
    from lzu.infra.atomic_io import LinkError

    module, folder, write = {
        "cityscapes": (cityscapes_writer, "leftImg8bit/train",
                       lambda root: cityscapes_writer.write_synthetic_cityscapes(root, 3, 1, (32, 64), 0)),
        "street": (street_argoverse, "Argoverse-1.1/tracking/train",
                   lambda root: street_argoverse.write_street_argoverse_hd(root, 3, 1, (32, 64), 0)),
    }[layout]
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "set"
    real, calls = module.render_frame, []

    def planting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first frame is written: its folder becomes a link
            (root / folder).rename(tmp_path / "moved")
            (root / folder).symlink_to(outside)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "render_frame", planting)
    with pytest.raises(LinkError, match=rf"'{root / folder}' is a symbolic link \(to '{outside}'\)"):
        write(str(root))
    assert os.listdir(outside) == []


def test_a_synthetic_set_below_a_held_folder_is_refused_if_it_is_a_link(tmp_path):
    """The evidence benchmark writes its sets in process below its held work dir: the set's
    root is then one of the folders below it, refused if it is a link."""
    from lzu.data.synthetic import write_synthetic_cityscapes
    from lzu.infra.atomic_io import LinkError, hold_root

    outside = tmp_path / "outside"
    outside.mkdir()
    hold_root(str(tmp_path / "work"))
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "data").symlink_to(outside)
    with pytest.raises(LinkError, match="data'(: it)? is a symbolic link"):
        write_synthetic_cityscapes(str(tmp_path / "work" / "data"), 1, 1, (32, 64), 0)
    assert os.listdir(outside) == []
