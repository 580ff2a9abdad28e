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
    module = importlib.import_module(name)  # `make test` installs every extra: a failed import is a bug
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
