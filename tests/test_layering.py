"""Where the code lives: no module of ``lzu`` imports from a floor above its own.

Floors, bottom to top (README, "Layout"; ``lzu/__init__.py``)::

    infra (and lzu/__init__.py, version.py)  <  core  <  data  <  openmmlab  <  apis

``core`` and ``data`` are the middle floor with one one-way arrow: ``data`` may use the
method's plain-PyTorch code (``core``), ``core`` never reads a dataset format (``data``).
``core`` imports no OpenMMLab package either. Every import is checked: at module level and
inside functions, absolute and relative, and ``importlib.import_module``/``__import__`` of a
constant name.
"""

import ast
import os
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: floor of each subpackage of lzu (modules directly in lzu/ are on the ground floor)
FLOORS = {"infra": 0, "core": 1, "data": 2, "openmmlab": 3, "apis": 4}
GROUND = 0
OPENMMLAB = ("mmengine", "mmcv", "mmdet", "mmdet3d", "mmseg")


def module_name(path, root):
    """Dotted name of the module file ``path`` below ``root`` (a package is its __init__)."""
    parts = osp.relpath(path, root)[: -len(".py")].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(name, root):
    """``(floor, label)`` of a dotted name in ``lzu``; ``(None, label)`` for a subpackage
    that is on no floor."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in FLOORS:
        return FLOORS[parts[1]], f"lzu.{parts[1]}"
    if len(parts) > 1 and osp.isdir(osp.join(root, "lzu", parts[1])):
        return None, f"lzu.{parts[1]}"
    return GROUND, "lzu"


def imports(source, name, is_package):
    """``(line, imported dotted name)`` of every import in ``source`` (module ``name``)."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield node.lineno, target
            if target == "lzu":  # ``from lzu import openmmlab``: the names are its floors
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if (called in ("import_module", "__import__") and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                yield node.lineno, node.args[0].value


def violations(root=ROOT):
    """One line per import running up a floor, per unranked subpackage, and per OpenMMLab
    import in ``lzu.core``: ``path:line: ...``."""
    found = []
    for folder, _, files in os.walk(osp.join(root, "lzu")):
        for file in sorted(f for f in files if f.endswith(".py")):
            path = osp.join(folder, file)
            name = module_name(path, root)
            own, own_label = floor_of(name, root)
            where = osp.relpath(path, root)
            if own is None:
                found.append(f"{where}: {own_label} is on no floor; rank it in FLOORS")
                continue
            with open(path, encoding="utf-8") as f:
                source = f.read()
            for line, target in imports(source, name, file == "__init__.py"):
                top = target.split(".")[0]
                if own_label == "lzu.core" and top in OPENMMLAB:
                    found.append(f"{where}:{line}: lzu.core imports {target} (OpenMMLab); "
                                 "the core is plain PyTorch")
                if top != "lzu":
                    continue
                floor, label = floor_of(target, root)
                if floor is None or floor > own:
                    found.append(f"{where}:{line}: {own_label} (floor {own}) imports {target} "
                                 f"({label}, floor {floor}), a floor above its own")
    return sorted(set(found))


def test_no_module_imports_from_a_floor_above_its_own():
    found = violations()
    assert not found, "imports running up a floor:\n" + "\n".join(found)


def test_every_subpackage_of_lzu_is_on_a_floor():
    subpackages = {d for d in os.listdir(osp.join(ROOT, "lzu"))
                   if osp.isfile(osp.join(ROOT, "lzu", d, "__init__.py"))}
    assert subpackages == set(FLOORS), subpackages ^ set(FLOORS)


def test_the_checker_finds_every_kind_of_upward_import(tmp_path):
    """The checker itself: a planted tree with one upward import of each kind."""
    lzu = tmp_path / "lzu"
    for sub in (*FLOORS, "data/synthetic"):
        (lzu / sub).mkdir(parents=True, exist_ok=True)
        (lzu / sub / "__init__.py").write_text("")
    (lzu / "__init__.py").write_text("from lzu.version import v\n")
    (lzu / "version.py").write_text("v = 1\n")
    (lzu / "infra" / "glue.py").write_text(
        "import os\nfrom lzu.infra.errors import E\nfrom lzu.data.infos import load_infos\n")
    (lzu / "infra" / "lazy.py").write_text(
        "def f():\n    from lzu.openmmlab.loading import check_cam2img\n")
    (lzu / "infra" / "dynamic.py").write_text(
        "import importlib\n\n\ndef f():\n    importlib.import_module('lzu.apis.runtime')\n")
    (lzu / "data" / "synthetic" / "rel.py").write_text(
        "from ...openmmlab import dataset\nfrom ..infos import load_infos\nfrom ... import apis\n")
    (lzu / "data" / "uses_core.py").write_text("from lzu.core.zoom import zoom\n")
    (lzu / "core" / "reads_data.py").write_text("from lzu import data\n")
    (lzu / "core" / "mm.py").write_text("def f():\n    import mmengine.config\n")
    (lzu / "openmmlab" / "ok.py").write_text("import lzu.core\nfrom lzu.data import infos\n")
    (lzu / "apis" / "top.py").write_text("import lzu.openmmlab\nfrom lzu.infra import cli\n")
    found = violations(str(tmp_path))
    expected = [
        "lzu/core/mm.py:2: lzu.core imports mmengine.config (OpenMMLab)",
        "lzu/core/reads_data.py:1: lzu.core (floor 1) imports lzu.data (lzu.data, floor 2)",
        "lzu/data/synthetic/rel.py:1: lzu.data (floor 2) imports lzu.openmmlab",
        "lzu/data/synthetic/rel.py:3: lzu.data (floor 2) imports lzu.apis",
        "lzu/infra/dynamic.py:5: lzu.infra (floor 0) imports lzu.apis.runtime (lzu.apis, floor 4)",
        "lzu/infra/glue.py:3: lzu.infra (floor 0) imports lzu.data.infos (lzu.data, floor 2)",
        "lzu/infra/lazy.py:2: lzu.infra (floor 0) imports lzu.openmmlab.loading",
    ]
    for start in expected:
        assert sum(line.startswith(start) for line in found) >= 1, (start, found)
    flagged = {line.split(":")[0] for line in found}
    assert flagged == {e.split(":")[0] for e in expected}, found
