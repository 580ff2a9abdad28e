"""Shared by the Bedrock adapters' tests: botocore's Stubber on each module's real ``client`` fixture."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber


@pytest.fixture
def stubber(client):
    """Expected requests and canned responses on the test module's ``client``; all must be used."""
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()
