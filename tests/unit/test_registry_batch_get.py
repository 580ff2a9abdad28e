"""DynamoRegistry.get_many when DynamoDB refuses: a throttled or failing read is a TransientError (the query
function answers 503 and the caller tries again), any other refusal is raised as it is."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from ragline.errors import TransientError
from ragline.registries.dynamodb import DynamoRegistry


class FakeTableRefusing:
    """A boto3 Table whose client's ``batch_get_item`` answers with ``code`` (HTTP ``status``)."""

    name = "registry"

    def __init__(self, code: str, status: int) -> None:
        error = {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": status}}

        class Client:
            def batch_get_item(self, **_: Any) -> Any:
                raise ClientError(error, "BatchGetItem")  # type: ignore[arg-type]

        self.meta = type("Meta", (), {"client": Client()})()


@pytest.mark.parametrize(
    ("code", "status"),
    [("ProvisionedThroughputExceededException", 400), ("ThrottlingException", 400), ("InternalServerError", 500)],
)
def test_a_throttled_or_failing_batch_get_is_transient(code: str, status: int) -> None:
    with pytest.raises(TransientError, match="BatchGetItem"):
        DynamoRegistry(FakeTableRefusing(code, status)).get_many(["d1"])


def test_any_other_refusal_is_raised_as_it_is() -> None:
    with pytest.raises(ClientError, match="AccessDeniedException"):
        DynamoRegistry(FakeTableRefusing("AccessDeniedException", 400)).get_many(["d1"])
