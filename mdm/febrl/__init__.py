"""The Febrl data sets as source system exports, with their truth and source mappings."""

from __future__ import annotations

from mdm.febrl.datasets import FebrlFiles, febrl_mappings_dir, febrl_profile_file, write_febrl

__all__ = ["FebrlFiles", "febrl_mappings_dir", "febrl_profile_file", "write_febrl"]
