"""Sample exports of four source systems with their truth, for demos, tests and benchmarks."""

from __future__ import annotations

from mdm.sample._population import SYSTEMS
from mdm.sample.generator import SampleFiles, SystemFile, generate_sample, sample_mappings_dir

__all__ = ["SYSTEMS", "SampleFiles", "SystemFile", "generate_sample", "sample_mappings_dir"]
