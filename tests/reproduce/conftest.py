from __future__ import annotations

from tests.engines.conftest import demo_dir  # noqa: F401  (the tiny preset's demo dataset, once per session)
