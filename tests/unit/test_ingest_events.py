"""Reading S3 notification records, and S3 sequencer order."""

from __future__ import annotations

import pytest

from ragline.ingest import SYNC_EVENT_SOURCE, SYNC_REFRESH, SYNC_REINDEX, ObjectEvent, sortable_sequencer


def record(name: str, key: str, sequencer: str | None = "0A") -> dict:
    obj = {"key": key, "size": 1}
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {"eventName": name, "s3": {"bucket": {"name": "docs"}, "object": obj}}


def test_keys_are_url_decoded_as_s3_encodes_them():
    event = ObjectEvent.from_s3_record(record("ObjectCreated:Put", "reports/Q3+summary+%282026%29.md"))
    assert event == ObjectEvent("created", "docs", "reports/Q3 summary (2026).md", "0A")


def test_removed_and_missing_sequencer():
    event = ObjectEvent.from_s3_record(record("ObjectRemoved:DeleteMarkerCreated", "a.md", sequencer=None))
    assert (event.kind, event.sequencer) == ("removed", "")


def test_other_events_are_refused():
    with pytest.raises(ValueError):
        ObjectEvent.from_s3_record(record("ObjectRestore:Post", "a.md"))


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("0055AED6DCD90281E5", "0055AED6DCD90281E6"),
        ("FF", "0100"),  # hex numbers of different widths order by value
        ("0055aed6dcd90281e5", "0055AED6DCD90281E6"),
    ],
)
def test_sortable_sequencers_order_as_strings_like_their_hex_values(earlier, later):
    assert sortable_sequencer(earlier) < sortable_sequencer(later)
    assert len(sortable_sequencer(earlier)) == len(sortable_sequencer(later))


def test_no_sequencer_stays_empty():
    assert sortable_sequencer("") == ""


def test_sync_records_refresh_or_reindex_and_carry_no_sequencer():
    refresh = {**record(SYNC_REFRESH, "a+b.md", sequencer=None), "eventSource": SYNC_EVENT_SOURCE}
    reindex = {**record(SYNC_REINDEX, "a.md", sequencer=None), "eventSource": SYNC_EVENT_SOURCE}

    assert ObjectEvent.from_s3_record(refresh) == ObjectEvent("refresh", "docs", "a b.md")
    assert not ObjectEvent.from_s3_record(refresh).full
    assert ObjectEvent.from_s3_record(reindex).full


def test_a_sync_record_of_another_name_is_refused():
    with pytest.raises(ValueError, match="unsupported sync event"):
        ObjectEvent.from_s3_record({**record("ObjectCreated:Put", "a.md"), "eventSource": SYNC_EVENT_SOURCE})
