"""CDK entry point (``cdk synth`` / ``cdk deploy`` read it through cdk.json)."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from infra.config import Config
from infra.stack import RaglineStack


def build(app: cdk.App, **stack_options: object) -> RaglineStack:
    """The stack, configured from the app's context, with the cdk-nag checks unless ``ragline:nag=false``."""
    config = Config.of(app.node)
    stack = RaglineStack(
        app,
        config.stack_name,
        config=config,
        description="ragline: serverless, permission-aware retrieval-augmented generation",
        **stack_options,
    )
    if config.nag:
        try:
            from infra.nag import add_checks

            add_checks(app)
        except ImportError:
            print("ragline: cdk-nag is not installed; the AwsSolutions checks did not run", file=sys.stderr)
    return stack


def main() -> None:
    app = cdk.App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
