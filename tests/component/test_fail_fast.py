"""A bad configuration fails where the settings are read, and a bug is never recorded as a bad document.

The functions read their settings at import (Lambda's init phase), the CLI before any command; the ingest
function records ``failed`` only for what is the document's fault (docs/architecture.md, "Configuration").
"""

from __future__ import annotations

import sys

import pytest

from ragline.errors import ConfigurationError
from ragline.local.lambda_runtime import load_function

FUNCTIONS = ["ingest", "query"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_bad_setting_fails_the_function_at_init(name, monkeypatch):
    monkeypatch.setenv("RAGLINE_FUSION", "typo")
    with pytest.raises(ConfigurationError, match=r"^RAGLINE_FUSION='typo' is not one of: convex, rrf$"):
        load_function(name)
    assert f"{name}_handler" not in sys.modules  # no half-initialised handler is left to be called


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_misspelt_variable_fails_the_function_at_init(name, monkeypatch):
    monkeypatch.setenv("RAGLINE_FUSON", "rrf")
    with pytest.raises(ConfigurationError, match=r"did you mean RAGLINE_FUSION\?"):
        load_function(name)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_function_reads_its_settings_at_init(name, monkeypatch):
    monkeypatch.setenv("RAGLINE_FUSION", "rrf")
    module = load_function(name)
    monkeypatch.setenv("RAGLINE_FUSION", "typo")  # too late: the settings were read at import
    assert module.settings.fusion == "rrf"
