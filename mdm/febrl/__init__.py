"""The Febrl data sets as source system exports, with their truth and source mappings."""

from __future__ import annotations

from mdm.febrl.datasets import FebrlFiles, febrl_mappings_dir, write_febrl

__all__ = ["FebrlFiles", "febrl_mappings_dir", "write_febrl"]
