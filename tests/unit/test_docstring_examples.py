"""The examples in the library's docstrings run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import ragline

MODULES = sorted(info.name for info in pkgutil.walk_packages(ragline.__path__, prefix="ragline."))


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as error:  # an optional extra that is not installed
        pytest.skip(f"{name}: {error}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
