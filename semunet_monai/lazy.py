"""Lazy package exports (PEP 562): a package's public names import their modules on first use.

``import semunet_monai`` and the command line's parser then cost milliseconds instead of the seconds that torch and
MONAI take to import; ``from semunet_monai import SampNet`` imports what ``SampNet`` needs at that moment.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package whose public names load lazily.

    Args:
        package: the package's ``__name__``.
        exports: public name -> the module that defines it, relative to ``package`` (``".kspace"``).

    Returns:
        ``(__getattr__, __dir__)``. ``__getattr__`` resolves a public name from its module, or a submodule by name
        (``semunet_monai.networks``, as eager imports used to bind it), caches it in the package and raises
        ``AttributeError`` for anything else; ``__dir__`` lists the package's attributes and the public names.
    """

    def __getattr__(name: str) -> object:
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
        elif name.isidentifier() and not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}"):
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
