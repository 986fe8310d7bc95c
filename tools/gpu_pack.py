"""Pack everything a bare GPU machine needs to run the GPU check (tools/gpu_check.py).

    python tools/gpu_pack.py [--out gpu_pack] [--max-mib 56]        (sh run.sh gpu-pack)

The target is a GPU machine without network access: Python 3.12, its own torch with CUDA,
numpy 2, nvcc, and none of the OpenMMLab stack. The pack holds, for cp312 / manylinux x86-64:

* a wheel of every package mmdetection3d/gpu_pack.txt lists, at constraints.txt's pin
  unless the list gives the pack its own version; a package with no such wheel (an
  sdist only, e.g. fire 0.7.0) is built into a wheel here, and refused unless it is
  pure Python;
* mmcv's sdist (constraints.txt's version) with the project's patches applied by
  mmdetection3d/mmcv_build.sh's ``patch_mmcv``, as ``mmcv-<version>-patched.tar.gz``;
  the GPU machine compiles its ops;
* ``manifest.json``: every file with its size and sha256, and what it was built for.

Needs the network (a package index). Writes a new folder and swaps it in at the end, so
an interrupted run leaves the previous pack whole. Exits non-zero, naming the package,
when a pin has no usable distribution, and when the pack exceeds ``--max-mib``.
"""

from lzu.infra.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap()  # first, before torch loads: CPU defaults, one-line full-disk errors

import argparse
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

from lzu.infra.cli import run_main
from lzu.infra.output_paths import check_output_folder
from lzu.infra.workdir import file_sha256

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONSTRAINTS = osp.join(ROOT, "mmdetection3d", "constraints.txt")
PACK_LIST = osp.join(ROOT, "mmdetection3d", "gpu_pack.txt")
BUILD_SH = osp.join(ROOT, "mmdetection3d", "mmcv_build.sh")

#: the GPU machine's interpreter and platform (pip's tags)
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")
TARGET_ARGS = ["--python-version", PYTHON_VERSION, "--implementation", "cp",
               "--abi", "cp" + PYTHON_VERSION.replace(".", "")]
for _p in PLATFORMS:
    TARGET_ARGS += ["--platform", _p]


class PackError(Exception):
    """The pack cannot be built as asked (a package, a pin, the size)."""


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path=CONSTRAINTS):
    pins = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\s*([A-Za-z0-9_.-]+)==([^\s#;]+)", line)
            if m:
                pins[normalize(m.group(1))] = m.group(2)
    return pins


def read_pack_list(path=PACK_LIST, pins=None):
    """``[(name, version, source)]`` for every line of the pack list."""
    pins = read_pins() if pins is None else pins
    entries = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:==([^\s;]+))?", line)
            if not m:
                raise PackError(f"{path}:{lineno}: expected NAME or NAME==VERSION, got {line!r}")
            name, version = m.group(1), m.group(2)
            if version is None:
                version = pins.get(normalize(name))
                if version is None:
                    raise PackError(f"{path}:{lineno}: '{name}' has no pin in {CONSTRAINTS}; "
                                    "pin it there or give NAME==VERSION")
                entries.append((name, version, "constraints.txt"))
            else:
                entries.append((name, version, "gpu_pack.txt"))
    return entries


def pip(args, cwd=None, env=None):
    """Run pip with this interpreter; returns (returncode, output without pip.conf's noise)."""
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                            cwd=cwd, env=env, capture_output=True, text=True)
    out = "\n".join(line for line in (result.stdout + result.stderr).splitlines()
                    if "is ignored: it is neither" not in line)
    return result.returncode, out


def build_env():
    """pip's environment for builds from source: build tools at constraints.txt's pins
    (mmcv's setup.py needs setuptools' pkg_resources, which setuptools >= 81 dropped)."""
    return dict(os.environ, PIP_CONSTRAINT=CONSTRAINTS)


def wheel_name(path):
    """Distribution name of a wheel file, normalized."""
    return normalize(osp.basename(path).split("-")[0])


def is_pure(path):
    return osp.basename(path).endswith("-none-any.whl")


def fetch_wheel(name, version, dest):
    """Download the cp312/manylinux wheel of ``name==version``; build a pure one if none exists."""
    before = set(os.listdir(dest))
    code, out = pip(["download", "-q", "--no-deps", "--only-binary=:all:", *TARGET_ARGS,
                     "-d", dest, f"{name}=={version}"])
    how = "wheel"
    if code != 0:
        if "No matching distribution" not in out and "Could not find a version" not in out:
            raise PackError(f"pip download {name}=={version} failed:\n{out[-2000:]}")
        # no wheel for the machine: an sdist-only release, built here if it is pure Python
        with tempfile.TemporaryDirectory() as tmp:
            code, out = pip(["wheel", "-q", "--no-deps", "--no-binary", name, "-w", tmp,
                             f"{name}=={version}"], env=build_env())
            built = [f for f in os.listdir(tmp) if f.endswith(".whl")]
            if code != 0 or len(built) != 1:
                raise PackError(f"{name}=={version}: no wheel for cp{PYTHON_VERSION} manylinux "
                                f"x86-64 and building one from its sdist failed:\n{out[-2000:]}")
            if not is_pure(built[0]):
                raise PackError(f"{name}=={version}: no wheel for cp{PYTHON_VERSION} manylinux "
                                f"x86-64, and its sdist builds a binary wheel ({built[0]}) that "
                                "would not run there: pick a version with such a wheel in "
                                f"{PACK_LIST}")
            shutil.move(osp.join(tmp, built[0]), osp.join(dest, built[0]))
        how = "built here from its sdist (pure Python)"
    new = sorted(set(os.listdir(dest)) - before)
    if len(new) != 1:
        raise PackError(f"{name}=={version}: expected one new file in the pack, got {new}")
    return new[0], how


def patched_mmcv_sdist(version, dest):
    """Download mmcv's sdist, apply ``patch_mmcv``, repack as ``mmcv-<v>-patched.tar.gz``."""
    with tempfile.TemporaryDirectory() as tmp:
        code, out = pip(["download", "-q", "--no-deps", "--no-binary", "mmcv", "-d", tmp,
                         f"mmcv=={version}"], env=build_env())
        sdist = osp.join(tmp, f"mmcv-{version}.tar.gz")
        if code != 0 or not osp.isfile(sdist):
            raise PackError(f"pip download of mmcv=={version}'s sdist failed:\n{out[-2000:]}")
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        src = osp.join(tmp, f"mmcv-{version}")
        result = subprocess.run(["sh", "-c", '. "$1" && patch_mmcv "$2"', "sh", BUILD_SH, src],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise PackError(f"patch_mmcv failed on {src}:\n{result.stdout}{result.stderr}")
        name = f"mmcv-{version}-patched.tar.gz"
        with tarfile.open(osp.join(dest, name), "w:gz") as tar:
            tar.add(src, arcname=f"mmcv-{version}", filter=_reset_owner)
    return name


def _reset_owner(info):
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def check_wheels(dest):
    """Exactly one wheel per distribution (two versions would stop the install there)."""
    seen = {}
    for f in sorted(os.listdir(dest)):
        if f.endswith(".whl"):
            if not zipfile.is_zipfile(osp.join(dest, f)):
                raise PackError(f"{f} is not a wheel (zip)")
            seen.setdefault(wheel_name(f), []).append(f)
    doubles = {k: v for k, v in seen.items() if len(v) > 1}
    if doubles:
        raise PackError(f"two versions of one package in the pack: {doubles}")


def folder_size(path):
    return sum(osp.getsize(osp.join(path, f)) for f in os.listdir(path))


def build_pack(out, max_mib):
    pins = read_pins()
    entries = read_pack_list(pins=pins)
    parent = osp.dirname(osp.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".gpu_pack-", dir=parent)
    try:
        files = []
        for name, version, source in entries:
            f, how = fetch_wheel(name, version, tmp)
            files.append({"file": f, "package": name, "version": version, "pin": source,
                          "how": how})
            print(f"  {f}  ({how}; pin from {source})", flush=True)
        check_wheels(tmp)
        sdist = patched_mmcv_sdist(pins["mmcv"], tmp)
        files.append({"file": sdist, "package": "mmcv", "version": pins["mmcv"],
                      "pin": "constraints.txt", "how": "sdist, patched by patch_mmcv"})
        print(f"  {sdist}  (sdist, patched by mmdetection3d/mmcv_build.sh)", flush=True)
        for entry in files:
            path = osp.join(tmp, entry["file"])
            entry["bytes"] = osp.getsize(path)
            entry["sha256"] = file_sha256(path)
        total = sum(e["bytes"] for e in files)
        manifest = {
            "python": PYTHON_VERSION, "platforms": list(PLATFORMS),
            "mmcv_sdist": sdist, "mmcv_build_sh_sha256": file_sha256(BUILD_SH),
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "total_bytes": total, "files": files,
        }
        with open(osp.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
        size = folder_size(tmp)
        if size > max_mib * 2**20:
            raise PackError(f"the pack is {size / 2**20:.1f} MiB, over the limit of {max_mib} MiB")
        old = out + ".old"
        if osp.exists(out):
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest, size


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=osp.join(ROOT, "gpu_pack"), help="pack folder (git-ignored)")
    p.add_argument("--max-mib", type=float, default=56.0,
                   help="refuse a pack larger than this, to keep the copy to the GPU machine small")
    args = p.parse_args(argv)
    check_output_folder(args.out, "--out")
    print(f"packing for cp{PYTHON_VERSION} manylinux x86-64 into {args.out}", flush=True)
    try:
        manifest, size = build_pack(args.out, args.max_mib)
    except PackError as e:
        print(f"gpu_pack: {e}", file=sys.stderr)
        return 1
    print(f"pack: {len(manifest['files'])} files, {size / 2**20:.1f} MiB "
          f"(limit {args.max_mib:g} MiB) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "gpu_pack"))
