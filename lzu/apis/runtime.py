"""Glue between the command-line tools and mmengine's Runner.

Everything the train/test tools share lives here: loading a config with
``--cfg-options``, pointing it at a data root, choosing the distributed
backend on machines without GPUs, and building a model without downloads.
The check that the data is prepared is ``lzu.apis.data_check``.
"""

import os
import os.path as osp
import re

import torch
from mmengine.config import Config
from mmengine.config import DictAction as MMEngineDictAction

from lzu.infra.errors import UserInputError

__all__ = [
    "DictAction",
    "cfg_option",
    "OptionError",
    "check_cfg_options",
    "check_grid_generator",
    "check_launcher",
    "parse_cfg_options",
    "constructor_accepts",
    "registered",
    "load_config",
    "set_data_root",
    "config_datasets",
    "init_cpu_distributed",
    "build_model",
]


class DictAction(MMEngineDictAction):
    """``--cfg-options KEY=VALUE ...`` parsed as mmengine does, but no string loses a character.

    mmengine's ``DictAction`` removes every space of every value (a saliency path
    ``/data/my set/s.pkl`` becomes ``/data/myset/s.pkl``) and strips any quote at either end.
    Here:

    * a value in a pair of matching quotes (``'...'`` or ``"..."``) is that string, verbatim
      (``cfg_option`` writes every path the tools pass so: spaces, commas, brackets kept);
    * ``(...)`` and ``[...]`` are a tuple and a list, and an unquoted value with a comma
      outside brackets is a list, as in mmengine; their elements are parsed the same way,
      the spaces around each element dropped and those inside kept;
    * any other value is an int, a float, ``true``/``false`` (any case), ``None``, or else the
      string as given, spaces included.

    An argument without ``=`` is refused with one line (argparse's error).
    """

    @classmethod
    def parse_value(cls, text):
        """The value ``text`` stands for (the rules of the class docstring)."""
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return text[1:-1]
        inner = text.strip()
        if inner[:1] in "([" and _closes_at_end(inner):
            items = _split_top_level(inner[1:-1])
            if items and not items[-1].strip():
                items.pop()  # a trailing comma: "(1, 2,)"
            values = [cls.parse_value(item.strip()) for item in items]
            return tuple(values) if inner[0] == "(" else values
        items = _split_top_level(text)
        if len(items) > 1:
            if not items[-1].strip():
                items.pop()
            return [cls.parse_value(item.strip()) for item in items]
        return cls._parse_int_float_bool(text)

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest, None) or {})
        for item in values or ():
            key, sep, value = item.partition("=")
            if not sep or not key:
                parser.error(f"{option_string or '--cfg-options'}: {item!r} is not KEY=VALUE")
            options[key] = self.parse_value(value)
        setattr(namespace, self.dest, options)


def _outside_quotes(text):
    """``(index, char, depth)`` of each character of ``text`` outside quotes; ``depth``: the
    brackets open after it."""
    depth, quote = 0, None
    for i, char in enumerate(text):
        if quote or char in "'\"":
            quote = None if char == quote else (quote or char)
            continue
        depth += (char in "([") - (char in ")]")
        yield i, char, depth


def _split_top_level(text):
    """``text`` split at the commas outside brackets and quotes."""
    cuts = [i for i, char, depth in _outside_quotes(text) if char == "," and depth == 0]
    return [text[a + 1:b] for a, b in zip([-1, *cuts], [*cuts, len(text)], strict=True)]


def _closes_at_end(text):
    """Whether the bracket opening ``text`` is closed by its last character (``(1, 2)``, not
    ``(1)(2)``), brackets inside quotes not counted."""
    for i, char, depth in _outside_quotes(text):
        if char in ")]" and depth == 0:
            return i == len(text) - 1
    return False


def cfg_option(key, value):
    """``KEY=VALUE`` for ``--cfg-options`` that ``DictAction`` reads back as ``value`` (a
    string, e.g. a path, is quoted: its spaces, commas and brackets are kept)."""
    return f'{key}="{value}"' if isinstance(value, str) else f"{key}={value!r}"


class OptionError(UserInputError, KeyError):
    """A ``--cfg-options`` key that the config does not have, or a value of the wrong type."""

    def __str__(self):
        return self.args[0]


#: settings dicts whose entries are free-form (no class signature to check them against)
FREE_FORM = ("metainfo", "randomness", "env_cfg", "dist_cfg", "mp_cfg", "paramwise_cfg",
             "custom_keys")


#: the kinds of value that stand for each other (an int where the config has a float, and back)
NUMBERS = ("int", "float")
#: names of settings that count things (a batch size, iterations, channels, ...): where the
#: config holds an int, a float is refused (``batch_size=2.5``)
COUNT_KEY = re.compile(r"^num_|_num$|^n_|batch_size|workers|iters?$|epochs?$|interval|channels"
                       r"|stages|depth$|seed$|samples|per_img|keep_ckpts|_size$|divisor")


def _kind(value):
    """Coarse type of a config value; ``None`` matches anything."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "sequence"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def _init_arguments(cls):
    """``(names, open)``: the keyword arguments ``cls(...)`` takes, following ``**kwargs`` up
    its bases, and whether an ``__init__`` of the chain passes ``**kwargs`` on to none."""
    import inspect

    if not inspect.isclass(cls):
        params = inspect.signature(cls).parameters.values()
        return ({p.name for p in params if p.kind is not p.VAR_KEYWORD},
                any(p.kind is p.VAR_KEYWORD for p in params))
    names = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        try:
            params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        except (TypeError, ValueError):  # a builtin's __init__: its arguments are unknown
            return names, True
        names.update(p.name for p in params
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self")
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names, False  # the chain ends: its **kwargs stop here
    return names, False  # **kwargs reach object.__init__, which takes none


#: keys of a ``type`` dict that its builder takes, not the class: mmengine's (``_scope_``,
#: ``_delete_``), a norm layer's ``requires_grad`` (mmcv), a ResNet ``dcn``'s
#: ``fallback_on_stride`` (mmdet), a parameter scheduler's ``convert_to_iter_based`` and an
#: optimizer wrapper's ``paramwise_cfg`` / ``constructor`` (mmengine)
BUILDER_KEYS = ("_scope_", "_delete_", "requires_grad", "fallback_on_stride",
                "convert_to_iter_based", "paramwise_cfg", "constructor")
#: the packages whose registries ``constructor_accepts`` searches, in this order after the
#: config's ``default_scope``
REGISTRY_SCOPES = ("mmdet3d", "mmdet", "mmseg", "mmengine")


def registered(type_name, scope=None):
    """The class (or function) registered as ``type_name`` (``'FCOS'`` or ``'mmdet.FCOS'``), in
    the registries of ``scope`` first, then of ``REGISTRY_SCOPES``; None if none has it."""
    import importlib

    import lzu.openmmlab  # noqa: F401  (registers lzu's models, grid generators, ...)

    prefix, _, bare = type_name.rpartition(".")
    scopes = [prefix] if prefix else list(dict.fromkeys([scope, *REGISTRY_SCOPES]))
    for name in filter(None, scopes):
        try:
            registry = importlib.import_module(f"{name}.registry")
        except ImportError:
            continue
        for attr in dir(registry):
            reg = getattr(registry, attr)
            if not isinstance(getattr(reg, "module_dict", None), dict):
                continue
            if bare not in reg.module_dict:
                try:
                    reg.import_from_location()  # the package's modules register on import
                except Exception:  # noqa: BLE001  (a location that cannot be imported here)
                    continue
            if bare in reg.module_dict:
                return reg.module_dict[bare]
    return None


def constructor_accepts(type_name, arg, scope=None):
    """Whether the class registered as ``type_name`` takes a keyword ``arg``.

    Looked up in the registries of the config's ``default_scope`` (``scope``), then of
    ``REGISTRY_SCOPES``, with lzu's own modules registered. A class's arguments are those of
    its ``__init__`` and, while an ``__init__`` takes ``**kwargs``, of the next ``__init__``
    of its bases (the mixins pass them on with ``super()``). Unknown types accept nothing.
    """
    if not isinstance(type_name, str):
        return False
    if arg in BUILDER_KEYS:
        return True
    cls = registered(type_name, scope)
    if cls is None:
        return False
    names, open_ = _init_arguments(cls)
    return arg in names or open_


def parse_cfg_options(argv):
    """The ``--cfg-options k=v ...`` among command-line arguments ``argv``, parsed as the
    tools parse them (a dict, or None when there are none); other arguments are ignored."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    return parser.parse_known_args(list(argv))[0].cfg_options


def check_cfg_options(cfg, options):
    """Every ``--cfg-options`` key must exist in ``cfg`` with a value of the same kind.

    A new key is accepted only in a free-form settings dict (``FREE_FORM``: a dataset's
    ``metainfo``, ``randomness``, ...), or as an argument that the registered class of its
    dict (``type``) takes. Raises ``OptionError``
    naming the key, with the nearest existing keys.
    """
    import difflib

    tree = cfg.to_dict()
    scope = tree.get("default_scope")
    for key, value in (options or {}).items():
        node, parts = tree, key.split(".")
        for depth, part in enumerate(parts):
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list | tuple):
                if not part.isdigit() or int(part) >= len(node):
                    raise OptionError(f"--cfg-options {key}: '{here}' is not an index of a "
                                      f"{len(node)}-element list")
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise OptionError(f"--cfg-options {key}: '{'.'.join(parts[:depth])}' is not a "
                                  f"dict, so it has no key '{part}'")
            if part not in node:
                last = depth == len(parts) - 1
                if last and (parts[depth - 1:depth] and parts[depth - 1] in FREE_FORM
                             or constructor_accepts(node.get("type"), part, scope)):
                    break  # an entry of a free-form dict, or an argument the class takes
                near = difflib.get_close_matches(part, [str(k) for k in node], n=3)
                hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
                raise OptionError(f"--cfg-options {key}: the config has no key '{here}'{hint}")
            node = node[part]
        else:
            old, new = _kind(node), _kind(value)
            if old in NUMBERS and new in NUMBERS and not (
                    old == "int" and new == "float" and COUNT_KEY.search(parts[-1])):
                continue  # a number where the config holds a number (13 or 12.5)
            if old is not None and new is not None and old != new:
                raise OptionError(f"--cfg-options {key}={value!r}: expected {old} like the "
                                  f"config's {node!r}, got a {new}")


#: the core's grid generators, whose settings ``check_grid_generator`` checks
CORE_GRID_GENERATORS = ("FixedGrid", "AdaptiveGrid")


def check_grid_generator(cfg):
    """The settings of ``cfg.model.grid_generator`` (a core generator), checked as the generator
    checks them when it is built (``lzu.core.grid_shape.check_grid_settings``), but before any
    data is read or model built: a bad one is one ``GridSettingError`` naming the key."""
    from lzu.core.grid_shape import check_grid_settings

    model = cfg.get("model")
    generator = model.get("grid_generator") if isinstance(model, dict) else None
    if isinstance(generator, dict) and generator.get("type") in CORE_GRID_GENERATORS:
        check_grid_settings(generator, prefix="model.grid_generator")


def config_datasets(cfg):
    """``(dataloader key, dataset config)`` of each dataloader of ``cfg``, wrappers unwrapped."""
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(key)
        if loader is None:
            continue
        dataset = loader["dataset"]
        # wrappers (RepeatDataset, CBGSDataset, ...) keep the real one inside
        while "dataset" in dataset:
            dataset = dataset["dataset"]
        yield key, dataset


def set_data_root(cfg, data_root):
    """Point every dataloader and evaluator of ``cfg`` at ``data_root``.

    An evaluator's ``ann_file`` under an old data root keeps its path below it; a
    ``data_root`` key is set only on evaluators that have one (NuScenesMetric, not
    CocoMetric).
    """
    root = data_root.rstrip("/") + "/"
    old_roots = {cfg.get("data_root")} | {d.get("data_root") for _, d in config_datasets(cfg)}
    old_roots = sorted((r for r in old_roots if r), key=len, reverse=True)
    if "data_root" in cfg:
        cfg.data_root = root
    for _, dataset in config_datasets(cfg):
        dataset["data_root"] = root
    for key in ("val_evaluator", "test_evaluator"):
        evaluator = cfg.get(key)
        if evaluator is None:
            continue
        for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
            if "data_root" in metric:
                metric["data_root"] = root
            ann = metric.get("ann_file")
            if ann:
                below = next((ann[len(r):] for r in old_roots if ann.startswith(r)), None)
                metric["ann_file"] = root + (below if below is not None else osp.basename(ann))
    return cfg


#: environment variables each ``--launcher`` reads, and what sets them
LAUNCHER_ENV = {
    "pytorch": (("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"),
                "start the tool with `torchrun --nproc_per_node=N tools/train.py ...`"),
    "slurm": (("SLURM_PROCID", "SLURM_NTASKS", "SLURM_NODELIST"),
              "start the tool with `srun` inside a slurm allocation"),
    "mpi": (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
            "start the tool with `mpirun`"),
}


def check_launcher(launcher):
    """``--launcher pytorch/slurm/mpi`` needs the environment its launcher sets; else one
    ``OptionError`` naming the missing variables (instead of a hang or a KeyError later)."""
    if launcher in (None, "none"):
        return
    if launcher not in LAUNCHER_ENV:
        raise OptionError(f"--launcher {launcher}: unknown; use none, {', '.join(LAUNCHER_ENV)}")
    names, how = LAUNCHER_ENV[launcher]
    missing = [n for n in names if n not in os.environ]
    if missing:
        raise OptionError(
            f"--launcher {launcher}, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: this process was not started by "
            f"its launcher; {how}, or drop --launcher to run in one process")


def load_config(path, cfg_options=None, data_root=None, work_dir=None, launcher="none"):
    """Load ``path``, apply ``--cfg-options``, data root, work dir and launcher."""
    check_launcher(launcher)
    if not osp.isfile(path):
        raise FileNotFoundError(f"config file '{path}' not found")
    cfg = Config.fromfile(path)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    check_grid_generator(cfg)
    if data_root:
        set_data_root(cfg, data_root)
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join("work_dirs", osp.splitext(osp.basename(path))[0])
    cfg.launcher = launcher
    if launcher != "none" and not torch.cuda.is_available():
        # Distributed on CPU: NCCL needs GPUs, gloo is torch.distributed's CPU
        # backend; and DDP must get device_ids=None for a CPU module (mmengine
        # passes [LOCAL_RANK] unless the wrapper config says otherwise).
        cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"
        wrapper = cfg.get("model_wrapper_cfg") or {}
        wrapper.setdefault("type", "MMDistributedDataParallel")
        wrapper.setdefault("broadcast_buffers", False)
        wrapper.setdefault("find_unused_parameters", cfg.get("find_unused_parameters", False))
        wrapper["device_ids"] = None
        cfg.model_wrapper_cfg = wrapper
    if "grid_generator" in (cfg.get("model") or {}):  # an LZU model pads as its pipeline would
        from lzu.openmmlab.pipeline_padding import set_pipeline_pad

        set_pipeline_pad(cfg)
    return cfg


def build_model(cfg, checkpoint=None):
    """Build ``cfg.model`` without downloading pretrained weights; load ``checkpoint`` strictly.

    ``cfg`` is not modified (mmdet's ResNet pops keys from its config while building).
    """
    import copy

    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import lzu.openmmlab  # noqa: F401  (registers lzu's modules, checkpoint allowlist)
    from lzu.openmmlab.pipeline_padding import set_pipeline_pad

    init_default_scope(cfg.get("default_scope", "mmdet3d"))
    model_cfg = copy.deepcopy(set_pipeline_pad(copy.deepcopy(cfg)).model)
    model_cfg.backbone.init_cfg = None
    if "pretrained" in model_cfg:  # mmseg's way of naming backbone weights
        model_cfg.pretrained = None
    model = MODELS.build(model_cfg)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location="cpu", strict=True)
    return model


def init_cpu_distributed(launcher):
    """Start torch.distributed with gloo when launched by torchrun on a machine without GPUs.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally; it
    skips its own initialisation when a process group already exists.
    """
    import torch.distributed as dist

    if launcher == "pytorch" and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend="gloo")
