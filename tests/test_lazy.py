"""The package's public names load on first use: importing the package or building the CLI parser leaves torch and
MONAI unimported, and every public name still resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import semunet_monai
import semunet_monai.data

HEAVY = ("torch", "monai", "numpy", "nibabel", "SimpleITK")


def _run(code: str) -> None:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize(
    "code",
    [
        "import semunet_monai",
        "import semunet_monai.data",
        "import semunet_monai.cli; semunet_monai.cli.build_parser()",
    ],
)
def test_import_and_parser_leave_torch_and_monai_out(code):
    _run(f"import sys; {code}; heavy = [m for m in {HEAVY!r} if m in sys.modules]; assert not heavy, heavy")


def test_a_submodule_is_an_attribute_of_the_package_on_first_use():
    _run(
        "import sys, semunet_monai; assert 'semunet_monai.names' not in sys.modules; "
        "assert semunet_monai.names.MASK_KINDS and 'semunet_monai.names' in sys.modules"
    )


@pytest.mark.parametrize("package", [semunet_monai, semunet_monai.data])
def test_public_names_resolve_and_are_listed(package):
    assert set(package.__all__) <= set(dir(package))
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    namespace: dict = {}
    exec(f"from {package.__name__} import *", namespace)  # noqa: S102 - the star import of the package itself
    assert set(package.__all__) <= set(namespace)


def test_public_names_are_the_defining_modules_objects():
    from semunet_monai.kspace import fft2c
    from semunet_monai.sampling.masks import MASK_KINDS
    from semunet_monai.sampling.sampnet import SampNet

    assert semunet_monai.SampNet is SampNet and semunet_monai.fft2c is fft2c and semunet_monai.MASK_KINDS is MASK_KINDS
    assert semunet_monai.__version__ == "0.1.0"


@pytest.mark.parametrize("name", ["nope", "_private", "__wrapped__", "not.a.module"])
def test_unknown_names_raise_attribute_error(name):
    with pytest.raises(AttributeError, match=repr(name)):
        getattr(semunet_monai, name)
    assert not hasattr(semunet_monai.data, name)
