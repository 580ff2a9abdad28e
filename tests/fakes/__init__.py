"""In-memory fakes of the core's ports (ragline.ports), for tests that need no AWS, model or disk.

Each one keeps to its port's documented semantics, and the contract tests in ``tests/contract`` run the
fakes of the vector store, the registry, the object store and the audit log through the same tests as the real adapters,
so that a unit test on a fake tells the truth about the real thing.

    >>> from tests.fakes import FakeRegistry, FakeVectorStore
    >>> FakeRegistry().get("nothing") is None and FakeVectorStore(dimension=8).count() == 0
    True
"""

from tests.fakes.audit_log import FakeAuditLog
from tests.fakes.clock import FakeClock
from tests.fakes.download_signer import FakeDownloadSigner, SignedDownload
from tests.fakes.embedder import FakeEmbedder
from tests.fakes.event_queue import FakeEventQueue
from tests.fakes.generator import DECLINE, FakeGenerator
from tests.fakes.index_admin import FakeIndexAdmin
from tests.fakes.index_catalog import FakeIndexCatalog
from tests.fakes.object_store import FakeObjectStore
from tests.fakes.registry import FakeRegistry
from tests.fakes.reranker import FakeReranker
from tests.fakes.upload_signer import FakeUploadSigner, SignedUpload
from tests.fakes.vector_store import FakeVectorStore

__all__ = [
    "DECLINE",
    "FakeAuditLog",
    "FakeClock",
    "FakeDownloadSigner",
    "FakeEmbedder",
    "FakeEventQueue",
    "FakeGenerator",
    "FakeIndexAdmin",
    "FakeIndexCatalog",
    "FakeObjectStore",
    "FakeRegistry",
    "FakeReranker",
    "FakeUploadSigner",
    "FakeVectorStore",
    "SignedDownload",
    "SignedUpload",
]
