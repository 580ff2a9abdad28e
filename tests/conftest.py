"""Shared fixtures: the repository's paths and sample events; Hypothesis' profiles.

Hypothesis runs under the profile named by ``HYPOTHESIS_PROFILE``: ``ci`` (the default, and ``make test``'s)
or ``dev`` (``make test-fast``'s, for the inner loop). A test that sets its own example count writes it as
``examples(n)``, so that the profile scales it too::

    @settings(max_examples=examples(200), deadline=None)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"

# ci runs Hypothesis' own default count, as CI has from the start: its thoroughness must not drop.
CI_EXAMPLES = 100
settings.register_profile("ci", max_examples=CI_EXAMPLES)
# dev tries a tenth of the examples: a quick signal while editing, not a substitute for ci.
settings.register_profile("dev", max_examples=CI_EXAMPLES // 10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(count: int) -> int:
    """``count`` under the loaded profile: ``count`` itself under ci, a tenth of it (at least one) under dev.

    An explicit ``max_examples`` overrides every profile, so a test that sets one passes it through here.
    """
    return max(1, count * settings().max_examples // CI_EXAMPLES)


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def sample_event():
    return load_event
