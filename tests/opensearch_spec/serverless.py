"""The OpenSearch API operations Amazon OpenSearch Serverless supports, of those the adapter can send.

From AWS's "Supported operations and plugins in Amazon OpenSearch Serverless", section "Supported
OpenSearch API operations and permissions"
(https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-genref.html): each operation
with the data access policy permission it needs. An operation of the specification missing here (``_refresh``,
``_delete_by_query``, ``_update_by_query``) is one the adapter must not send to a collection; the adapter's
own table of what it sends where is in ``shared/ragline/stores/opensearch/writes.py``.
"""

from __future__ import annotations

#: Operation group of the specification -> (the HTTP operation as AWS's table writes it, its permission).
SERVERLESS_OPERATIONS: dict[str, tuple[str, str]] = {
    "indices.create": ("PUT <index>", "aoss:CreateIndex"),
    "indices.get_mapping": ("GET <index>/_mapping", "aoss:DescribeIndex"),
    "indices.delete": ("DELETE <index>", "aoss:DeleteIndex"),
    "bulk": ("POST <index>/_bulk", "aoss:WriteDocument"),
    "search": ("GET/POST <index>/_search", "aoss:ReadDocument"),
    "msearch": ("GET/POST <index>/_msearch", "aoss:ReadDocument"),
    "count": ("GET/POST <index>/_count", "aoss:ReadDocument"),
}
