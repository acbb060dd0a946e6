"""Fixtures shared across the test packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from semunet_monai.config import load_config
from semunet_monai.engines.workflow import ensure_demo_dataset


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The tiny preset's demo dataset, generated once for the session."""
    path = tmp_path_factory.mktemp("demo") / "data"
    ensure_demo_dataset(load_config("tiny", overrides={"data": {"demo_dir": str(path)}}))
    return path
