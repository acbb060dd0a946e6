"""The README's Python example must run as written and do what it says."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_example_builds_semunet_and_takes_one_step():
    blocks = _python_blocks()
    assert blocks, "README.md has no python example"
    code = blocks[0]
    assert len([line for line in code.splitlines() if line.strip() and not line.startswith(("import", "from"))]) <= 10
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    model, mask, loss = namespace["model"], namespace["mask"], namespace["loss"]
    assert torch.isfinite(loss)
    assert mask.dtype == torch.bool and int(mask.sum()) == round(0.1 * 64 * 64) == 410
    # one optimisation step reached every module: Adam holds step 1 for each parameter, and gradients are non-zero
    opt = namespace["opt"]
    for part in (model.sampler, model.recon, model.seg):
        for p in part.parameters():
            assert p.grad is not None and int(opt.state[p]["step"]) == 1
        assert sum(float(p.grad.abs().sum()) for p in part.parameters()) > 0
