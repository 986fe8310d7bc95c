"""Work dirs: one run at a time (a lock naming its holder), links refused before anything is
written, stale temporaries removed without following links, a corrupt run record refused."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT, run_tool
from helpers import assert_clean_error

from lzu.infra.errors import UserInputError

# ------------------------------------------------------------ one run per work dir


def test_second_training_in_a_work_dir_is_refused_naming_the_holder(tmp_path):
    from lzu.infra.workdir import acquire_lock

    code = (f"import sys, time; sys.path.insert(0, {ROOT!r}); from lzu.infra.workdir import acquire_lock; "
            f"acquire_lock({str(tmp_path)!r}); print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserInputError, match=rf"in use by another run \(PID {holder.pid},"):
            acquire_lock(str(tmp_path))
    finally:
        holder.kill()
        holder.wait()
    acquire_lock(str(tmp_path))  # the kernel released the dead holder's lock


def test_a_second_demo_in_one_work_dir_is_refused(tmp_path):
    from lzu.infra.workdir import acquire_lock

    work = tmp_path / "demo"
    acquire_lock(str(work))  # a demo running there
    result = run_tool(["tools/demo_seg.py", "--work-dir", str(work), "--iters", "1",
                       "--frames", "1", "1", "--size", "32"])
    assert_clean_error(result, "is in use by another run", f"PID {os.getpid()}")
    assert os.listdir(work) == [".lzu.lock"]


def test_unwritable_work_dir_is_named(tmp_path):
    from lzu.infra.workdir import acquire_lock

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(UserInputError, match="cannot create work dir"):
        acquire_lock(str(blocker / "work"))


# ------------------------------------------------------------ links


def test_a_planted_lock_link_never_touches_its_target(tmp_path):
    from lzu.infra.workdir import acquire_lock

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".lzu.lock").symlink_to(victim)
    with pytest.raises(UserInputError, match="symbolic link"):
        acquire_lock(str(work))
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("name", ["last_checkpoint", "lzu_demo.py", "vis"])
def test_a_work_dir_holding_a_link_is_refused_before_anything_is_written(tmp_path, name):
    from mmengine.config import Config

    from lzu.apis.entrypoints import _claim_work_dir

    outside = tmp_path / "outside"
    outside.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / name).symlink_to(outside if name == "vis" else outside / "file")
    with pytest.raises(UserInputError, match=f"symbolic link '{work / name}'"):
        _claim_work_dir(Config(dict(work_dir=str(work), model=dict(type="x"))))
    assert os.listdir(outside) == []


def test_stale_temporary_cleanup_never_follows_a_directory_link(tmp_path):
    from lzu.infra.workdir import remove_stale_tmp

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".keep.abc.tmp").write_text("not ours")
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / ".epoch_1.pth.xyz.tmp").write_text("ours")
    (work / "link").symlink_to(outside)
    assert remove_stale_tmp(str(work)) == [str(work / "sub" / ".epoch_1.pth.xyz.tmp")]
    assert (outside / ".keep.abc.tmp").read_text() == "not ours"


# ------------------------------------------------------------ the run record


@pytest.mark.parametrize("content, says", [
    ("{\"fingerprint\": {\"model\"", "is not valid JSON"),
    ("[1, 2]", "holds a list, not an object"),
    ("{\"id\": \"abc\"}", "has no 'fingerprint'"),
    ("{\"fingerprint\": \"abc\"}", "has 'fingerprint' of type str, not dict"),
    ("{\"fingerprint\": {}}", "has an empty 'fingerprint'"),
    (None, "cannot be read"),  # a folder in its place
])
def test_a_corrupt_run_record_is_refused_in_one_line(seg_saliency_root, tmp_path, content, says):
    """``lzu_run.json`` says which run wrote the work dir's checkpoints: one that is not a run
    record is named, with the fix, instead of a stack trace (or being ignored)."""
    work = tmp_path / "w"
    work.mkdir()
    (work / "iter_2.pth").write_bytes(b"x")
    record = work / "lzu_run.json"
    if content is None:
        record.mkdir()
    else:
        record.write_text(content)
    result = run_tool(["tools/train.py", "configs/seg/demo/fcn_uniform_demo.py", "--work-dir",
                       str(work), "--data-root", seg_saliency_root])
    assert_clean_error(result)
    (line,) = [ln for ln in result.stderr.splitlines() if "error: " in ln]
    assert f"'{record}'" in line and says in line and "delete it" in line, line
