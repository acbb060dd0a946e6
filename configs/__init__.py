"""Experiment presets (YAML), installed as ``semunet_monai.presets``."""
