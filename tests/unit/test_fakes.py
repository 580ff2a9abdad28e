"""The examples in the fakes' docstrings run as written (their semantics are held to the real adapters'
by the contract tests in tests/contract)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import tests.fakes

MODULES = ["tests.fakes", *sorted(info.name for info in pkgutil.iter_modules(tests.fakes.__path__, "tests.fakes."))]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
