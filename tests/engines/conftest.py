from __future__ import annotations

from pathlib import Path

from semunet_monai.config import load_config


def tiny(demo_dir: Path, **sections) -> object:
    """The tiny preset on the session's demo data, with nested overrides per section."""
    overrides = {"data": {"demo_dir": str(demo_dir), **sections.pop("data", {})}, **sections}
    return load_config("tiny", overrides=overrides)
