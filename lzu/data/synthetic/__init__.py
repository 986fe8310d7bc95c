"""Synthetic data in real dataset layouts, for tests and demos (no downloads needed)."""

from lzu.data.synthetic.cityscapes_writer import write_synthetic_cityscapes
from lzu.data.synthetic.nuscenes_writer import write_synthetic_nuscenes

__all__ = ["write_synthetic_cityscapes", "write_synthetic_nuscenes"]
