"""CDK entry point (``cdk synth`` / ``cdk deploy`` read it through cdk.json)."""

import aws_cdk as cdk

from infra.stack import RaglineStack

app = cdk.App()
RaglineStack(app, "Ragline")
app.synth()
