"""The checkout's root: the commands read ``configs/``, ``docs/`` and ``tools/`` relative to it.

``child_env()`` is the environment of a tool started as a child process (a demo step, an
evidence worker, an experiment's train and test): this checkout's root first on
``PYTHONPATH``, so the child imports the same ``lzu`` as its parent, whichever ``lzu`` the
environment has installed.
"""

import os
import os.path as osp

__all__ = ["ROOT", "child_env"]

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def child_env(env=None):
    """A copy of ``env`` (default: ``os.environ``) with ``ROOT`` first on ``PYTHONPATH``."""
    env = dict(os.environ if env is None else env)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != ROOT]
    env["PYTHONPATH"] = os.pathsep.join([ROOT, *rest])
    return env
