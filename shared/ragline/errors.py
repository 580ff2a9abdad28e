"""Errors the core raises on purpose, each with a message a person can act on."""


class RaglineError(Exception):
    """Base class of ragline's own errors."""


class ConfigurationError(RaglineError, ValueError):
    """A setting that cannot work: an unknown choice, a number out of range, a misspelt variable.

    Raised where the settings are read (a Lambda's init phase, the CLI's start), so a bad configuration
    fails there, not on some later question or document. The message names the variable, the bad value and
    what would be accepted: ``RAGLINE_FUSION='typo' is not one of: convex, rrf``.
    """


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


class AuditUnavailable(RaglineError):
    """An audit record could not be kept (the table refused it, or could not be reached): the request it
    records is answered as the audit trail's failure policy says (docs/security.md, "The audit trail")."""
