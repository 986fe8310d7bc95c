"""The checkout's root: the commands read ``configs/``, ``docs/`` and ``tools/`` relative to it."""

import os.path as osp

__all__ = ["ROOT"]

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
