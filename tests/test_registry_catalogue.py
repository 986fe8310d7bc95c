"""The catalogue in lzu/openmmlab/__init__.py names every class lzu registers, and only those."""

import importlib
import re

import lzu.openmmlab

#: the OpenMMLab packages whose registries lzu registers into (mmengine's are their roots)
REGISTRY_MODULES = ("mmengine.registry", "mmdet.registry", "mmdet3d.registry", "mmseg.registry")
#: a few registrations the scan must find, so that a scan that finds nothing cannot pass
KNOWN = {"FixedGrid", "LZUFCOSMono3D", "FoveaFCOS", "LZUEncoderDecoder", "RNGStateHook"}


def _registries():
    """Every registry of the packages above, their children included."""
    from mmengine.registry import Registry

    todo = [obj for name in REGISTRY_MODULES
            for obj in vars(importlib.import_module(name)).values() if isinstance(obj, Registry)]
    seen = {}
    while todo:
        registry = todo.pop()
        if id(registry) not in seen:
            seen[id(registry)] = registry
            todo.extend(registry.children.values())
    return list(seen.values())


def registered_by_lzu():
    """``{registered name: 'scope REGISTRY'}`` of every class of lzu in any registry."""
    found = {}
    for registry in _registries():
        for name, cls in registry.module_dict.items():
            if getattr(cls, "__module__", "").split(".")[0] == "lzu":
                found[name] = f"{registry.scope} {registry.name}"
    return found


def catalogued(doc):
    """The names the catalogue's bullets list (every ``Name`` of a ``* `` bullet and its
    continuation lines)."""
    names, in_bullet = set(), False
    for line in doc.splitlines():
        if line.startswith("* "):
            in_bullet = True
        elif not line.startswith("  "):
            in_bullet = False
        if in_bullet:
            names.update(re.findall(r"``(\w+)``", line))
    return names


def missing_from(doc, registered):
    return sorted(set(registered) - catalogued(doc))


def test_the_scan_finds_lzus_registrations():
    registered = registered_by_lzu()
    assert KNOWN <= set(registered), sorted(KNOWN - set(registered))


def test_every_registered_class_is_in_the_catalogue():
    registered = registered_by_lzu()
    missing = missing_from(lzu.openmmlab.__doc__, registered)
    assert not missing, (
        "lzu/openmmlab/__init__.py: the catalogue in the docstring omits "
        + ", ".join(f"{name} ({registered[name]})" for name in missing) + "; add a bullet for each")


def test_the_catalogue_names_only_registered_classes():
    stale = sorted(catalogued(lzu.openmmlab.__doc__) - set(registered_by_lzu()))
    assert not stale, f"lzu/openmmlab/__init__.py: the catalogue lists unregistered {stale}"


def test_an_omission_is_caught():
    registered = registered_by_lzu()
    doc = lzu.openmmlab.__doc__.replace("``FoveaRetinaNet``, ", "")
    assert missing_from(doc, registered) == ["FoveaRetinaNet"]
