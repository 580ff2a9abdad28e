"""cdk-nag (3.x) wiring: the AwsSolutions checks as a validation plugin, and written acknowledgements.

cdk-nag 3 replaced ``NagSuppressions`` with CDK's own ``Validations.of(construct).acknowledge``; a finding
is acknowledged on the construct that causes it (or an ancestor), always with the reason it is acceptable.
A finding that carries detail is acknowledged one by one: ``AwsSolutions-IAM5[Resource::*]``.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledges the AwsSolutions finding ``rule`` (e.g. ``AwsSolutions-S1``) on ``construct``."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{PACK}::{rule}", reason=reason))


def add_checks(scope: IConstruct) -> None:
    """Runs the AwsSolutions pack when ``scope`` (the app) synthesizes; a violation fails the synth."""
    from cdk_nag import AwsSolutionsChecks

    Validations.of(scope).add_plugins(AwsSolutionsChecks(scope))
