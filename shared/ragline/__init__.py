"""ragline: serverless, permission-aware retrieval-augmented generation for AWS.

The core never imports boto3 or opensearch-py directly: it talks to the protocols in
:mod:`ragline.ports`, and adapters (``ragline.embedders``, ``ragline.stores``, ``ragline.generators``,
``ragline.registries.dynamodb``) implement them.
"""

__version__ = "0.2.0"
