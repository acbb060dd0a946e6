"""Every package folder of semunet_monai is listed in pyproject.toml (the list is by hand: a missing entry installs
fine in editable mode and breaks a regular install)."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "semunet_monai").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found, "no packages found"
    assert found - listed == set(), f"add to pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
