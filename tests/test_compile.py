"""torch.compile for inference falls back to eager execution cleanly (no compiler, or a failing compilation)."""

from __future__ import annotations

import logging

import pytest
import torch

import semunet_monai.compile as compile_mod
from semunet_monai import ReconNet, SegNet, SemuNet
from semunet_monai.bundle import BundleNetwork
from semunet_monai.compile import CompiledForward
from semunet_monai.precision import cpu_has_bf16


@pytest.fixture
def no_compiler(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(compile_mod.shutil, "which", lambda name: None)


def _model() -> SemuNet:
    torch.manual_seed(0)
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[8:24, 8:24] = True
    return SemuNet(recon=ReconNet(features="tiny"), seg=SegNet(num_classes=3, features="tiny"), mask=mask).eval()


def test_no_compiler_found(no_compiler):
    assert compile_mod.find_compiler() is None


def test_compiler_from_cxx(monkeypatch):
    monkeypatch.setenv("CXX", "my-c++")
    monkeypatch.setattr(compile_mod.shutil, "which", lambda name: f"/opt/bin/{name}" if name == "my-c++" else None)
    assert compile_mod.find_compiler() == "/opt/bin/my-c++"


def test_without_a_compiler_it_runs_eagerly_with_one_warning(no_compiler, caplog, monkeypatch):
    called = []
    monkeypatch.setattr(torch, "compile", lambda *a, **k: called.append(1))
    net = BundleNetwork(_model(), outputs="stacked", compile=False)
    x = torch.rand(2, 1, 32, 32)
    with caplog.at_level(logging.WARNING):
        compiled = BundleNetwork(net.model, outputs="stacked", compile=True)
    assert not compiled.run_model.active and not called
    assert "compile: no C++ compiler found" in caplog.text
    with torch.no_grad():
        assert torch.equal(compiled(x), net(x))


def test_a_failing_compilation_falls_back_to_eager(monkeypatch, caplog):
    monkeypatch.setattr(compile_mod, "find_compiler", lambda: "/usr/bin/c++")
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("inductor: assert_size_stride failed\nmore lines")

    monkeypatch.setattr(torch, "compile", lambda module, **kwargs: broken)
    module = torch.nn.Linear(3, 2)
    run = CompiledForward(module, enabled=True, setting="inference compile")
    assert run.active
    x = torch.rand(4, 3)
    with caplog.at_level(logging.WARNING):
        out = run(x)
        again = run(x)
    assert torch.equal(out, module(x)) and torch.equal(again, out)
    assert calls == [1] and not run.active  # tried once, then eager for good
    assert "inference compile: torch.compile failed (inductor: assert_size_stride failed)" in caplog.text


def test_errors_after_a_successful_compilation_propagate(monkeypatch):
    monkeypatch.setattr(compile_mod, "find_compiler", lambda: "/usr/bin/c++")
    monkeypatch.setattr(torch, "compile", lambda module, **kwargs: module)  # "compiles" to itself
    run = CompiledForward(torch.nn.Linear(3, 2), enabled=True)
    run(torch.rand(1, 3))
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        run(torch.rand(1, 4))  # the input's error, not a compile failure
    assert run.active


def test_compile_keeps_the_state_dict_keys():
    net = BundleNetwork(_model(), compile=False)
    assert set(net.state_dict()) == {f"model.{k}" for k in net.model.state_dict()}


@pytest.mark.parametrize(
    "setting, n, expected",
    [(True, 1, True), (False, 50, False), ("auto", 29, False), ("auto", 30, True), ("TRUE", 1, True)],
)
def test_should_compile(setting, n, expected):
    assert compile_mod.should_compile(setting, n) is expected


def test_should_compile_refuses_other_values():
    with pytest.raises(ValueError, match="compile must be true, false or 'auto', got 'sometimes'"):
        compile_mod.should_compile("sometimes", 3)


@pytest.mark.slow
def test_compiled_inference_matches_eager():
    """A real inductor compilation (about 30 s on 2 cores): the same outputs as eager within bf16 rounding."""
    if compile_mod.find_compiler() is None or not cpu_has_bf16():
        pytest.skip("no C++ compiler, or no native bf16 on this CPU")
    model = _model()
    x = torch.rand(3, 1, 32, 32)
    eager = BundleNetwork(model, outputs="stacked", precision="bf16")
    compiled = BundleNetwork(model, outputs="stacked", precision="bf16", compile=True)
    with torch.no_grad():
        a, b = eager(x), compiled(x)
        c = compiled(x[:1])  # another batch size compiles again, still without falling back
    assert compiled.run_model.active
    assert float((a - b).abs().max()) < 0.05 * float(a.abs().max())
    assert float((c - a[:1]).abs().max()) < 0.05 * float(a.abs().max())
