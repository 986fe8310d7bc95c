"""Where the code lives: no module of ``lzu`` imports from a floor above its own.

Floors, bottom to top (README, "Layout"; ``lzu/__init__.py``)::

    infra (and lzu/__init__.py, version.py)  <  core  <  data  <  openmmlab  <  apis

``core`` and ``data`` are the middle floor with one one-way arrow: ``data`` may use the
method's plain-PyTorch code (``core``), ``core`` never reads a dataset format (``data``).
``infra`` and ``core`` import no OpenMMLab package either. Every import is checked: at module
level and inside functions, absolute and relative, and ``importlib.import_module``/``__import__``
of a constant name.

No module of ``lzu`` takes part in an import cycle: the imports that run when a module is
imported (module level, class bodies included, function bodies not) form a graph with no cycle.
"""

import ast
import os
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: floor of each subpackage of lzu (modules directly in lzu/ are on the ground floor)
FLOORS = {"infra": 0, "core": 1, "data": 2, "openmmlab": 3, "apis": 4}
GROUND = 0
OPENMMLAB = ("mmengine", "mmcv", "mmdet", "mmdet3d", "mmseg")
#: floors that import no OpenMMLab package
PLAIN = ("lzu.infra", "lzu.core")


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


def _nodes(tree, module_level=False):
    """Every node of ``tree``; with ``module_level``, none inside a function (its imports run
    when it is called, not when the module is imported)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not (
            module_level and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)))


def _statements(source, name, is_package, module_level=False):
    """``(line, imported dotted name, names imported from it)`` of every import in ``source``."""
    package = name if is_package else name.rpartition(".")[0]
    for node in _nodes(ast.parse(source), module_level):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield node.lineno, target, tuple(alias.name for alias in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if (called in ("import_module", "__import__") and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                yield node.lineno, node.args[0].value, ()


def imports(source, name, is_package):
    """``(line, imported dotted name)`` of every import in ``source`` (module ``name``)."""
    for line, target, names in _statements(source, name, is_package):
        yield line, target
        if target == "lzu":  # ``from lzu import openmmlab``: the names are its floors
            for alias in names:
                yield line, f"{target}.{alias}"


def violations(root=ROOT):
    """One line per import running up a floor, per unranked subpackage, and per OpenMMLab
    import in ``lzu.infra`` or ``lzu.core``: ``path:line: ...``."""
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
                if own_label in PLAIN and top in OPENMMLAB:
                    found.append(f"{where}:{line}: {own_label} imports {target} (OpenMMLab); "
                                 f"{own_label} is plain Python and PyTorch")
                if top != "lzu":
                    continue
                floor, label = floor_of(target, root)
                if floor is None or floor > own:
                    found.append(f"{where}:{line}: {own_label} (floor {own}) imports {target} "
                                 f"({label}, floor {floor}), a floor above its own")
    return sorted(set(found))


def lzu_modules(root=ROOT):
    """``{dotted name: path}`` of every module of ``lzu`` (a package is its __init__)."""
    found = {}
    for folder, _, files in os.walk(osp.join(root, "lzu")):
        for file in files:
            if file.endswith(".py"):
                path = osp.join(folder, file)
                found[module_name(path, root)] = path
    return found


def import_graph(root=ROOT):
    """``{module: {imported lzu module: line}}``: the imports of ``lzu`` that run when a module
    is imported. ``from package import name`` is an edge to ``package.name`` when that is a
    module, else to ``package``; an import of something below a module is an edge to it."""
    modules = lzu_modules(root)
    graph = {}
    for name, path in modules.items():
        with open(path, encoding="utf-8") as f:
            source = f.read()
        edges = graph.setdefault(name, {})
        statements = _statements(source, name, osp.basename(path) == "__init__.py", True)
        for line, target, names in statements:
            if target.split(".")[0] != "lzu":
                continue
            targets = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or [target]
            for each in targets:
                while each not in modules and "." in each:
                    each = each.rpartition(".")[0]
                if each in modules and each != name:
                    edges.setdefault(each, line)
    return graph


def import_cycles(root=ROOT):
    """One line per import cycle (a strongly connected set of ``import_graph``), naming a
    shortest cycle through its first module and the line of each import on it."""
    graph = import_graph(root)
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    cycles = []
    for component in components:
        start = min(component)
        paths, queue = {start: [start]}, [start]
        while queue:  # breadth first, inside the component, back to ``start``
            node = queue.pop(0)
            for nxt in sorted(graph[node]):
                if nxt == start:
                    cycle = paths[node] + [start]
                    queue = []
                    break
                if nxt in component and nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    queue.append(nxt)
        steps = "; ".join(f"{osp.relpath(lzu_modules(root)[a], root)}:{graph[a][b]} imports {b}"
                          for a, b in zip(cycle, cycle[1:], strict=False))
        cycles.append(f"{' -> '.join(cycle)} ({steps})")
    return sorted(cycles)


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


def test_no_module_of_lzu_is_in_an_import_cycle():
    found = import_cycles()
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_checker_finds_openmmlab_in_infra_and_core_and_import_cycles(tmp_path):
    """The checkers themselves: a planted tree with OpenMMLab imports and import cycles."""
    lzu = tmp_path / "lzu"
    for sub in FLOORS:
        (lzu / sub).mkdir(parents=True, exist_ok=True)
        (lzu / sub / "__init__.py").write_text("")
    (lzu / "__init__.py").write_text("")
    (lzu / "infra" / "patch.py").write_text("import os\nfrom mmengine.fileio import register_backend\n")
    (lzu / "infra" / "late.py").write_text("def f():\n    import mmcv\n")
    (lzu / "core" / "seg.py").write_text("import mmseg.registry\n")
    (lzu / "openmmlab" / "ok.py").write_text("import mmdet3d\nimport mmdet\n")
    (lzu / "core" / "a.py").write_text("from lzu.core import b\n")
    (lzu / "core" / "b.py").write_text("from lzu.core.c import f\n")
    (lzu / "core" / "c.py").write_text("from . import a\n\n\ndef f():\n    pass\n")
    (lzu / "data" / "x.py").write_text("import lzu.data.y\n")
    (lzu / "data" / "y.py").write_text("def g():\n    import lzu.data.x\n")  # runs later: no cycle
    (lzu / "openmmlab" / "__init__.py").write_text("from lzu.openmmlab.m import M\n")
    (lzu / "openmmlab" / "m.py").write_text("from lzu.openmmlab import helper\nM = 1\n")
    found = violations(str(tmp_path))
    expected = [
        "lzu/core/seg.py:1: lzu.core imports mmseg.registry (OpenMMLab)",
        "lzu/infra/late.py:2: lzu.infra imports mmcv (OpenMMLab)",
        "lzu/infra/patch.py:2: lzu.infra imports mmengine.fileio (OpenMMLab)",
    ]
    assert len(found) == len(expected), found
    for start in expected:
        assert sum(line.startswith(start) for line in found) == 1, (start, found)
    cycles = import_cycles(str(tmp_path))
    assert cycles == [
        "lzu.core.a -> lzu.core.b -> lzu.core.c -> lzu.core.a (lzu/core/a.py:1 imports lzu.core.b; "
        "lzu/core/b.py:1 imports lzu.core.c; lzu/core/c.py:1 imports lzu.core.a)",
        "lzu.openmmlab -> lzu.openmmlab.m -> lzu.openmmlab (lzu/openmmlab/__init__.py:1 imports "
        "lzu.openmmlab.m; lzu/openmmlab/m.py:1 imports lzu.openmmlab)",
    ], cycles
