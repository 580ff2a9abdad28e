"""Errors the core raises on purpose, each with a message a person can act on."""


class RaglineError(Exception):
    """Base class of ragline's own errors."""


class UnparseableDocument(RaglineError):
    """A document that cannot be turned into text. Permanent: retrying will not help.

    The message is recorded in the registry as the document's ``error``, so it names the problem
    (``"PDF is encrypted"``), never the document's content.
    """


class TransientError(RaglineError):
    """A failure worth retrying later (throttling, a 5xx): the message goes back to the queue."""


class LeaseLost(TransientError):
    """Another ingest holds the document's lease now (ours expired): this attempt's writes must not land."""


class ObjectChanged(RaglineError):
    """A conditional write or delete found another object at the key than the one it was bound to."""
