"""infra.deferred: a value constructs read before it exists (no synthesis of the stack)."""

from __future__ import annotations

import pytest

cdk = pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Template  # noqa: E402

from infra.deferred import Deferred  # noqa: E402


def test_a_deferred_value_reaches_the_template_where_it_was_read_before_it_was_set():
    stack = cdk.Stack(cdk.App(), "S")
    origin = Deferred("the origin")
    cdk.CfnOutput(stack, "Origin", value=origin.token)  # read first
    origin.set("https://d111111abcdef8.cloudfront.net")  # known later
    template = Template.from_stack(stack).to_json()
    assert template["Outputs"]["Origin"]["Value"] == "https://d111111abcdef8.cloudfront.net"


def test_a_deferred_value_never_set_fails_the_synthesis_naming_it():
    stack = cdk.Stack(cdk.App(), "S")
    cdk.CfnOutput(stack, "Origin", value=Deferred("the web app's origin").token)
    with pytest.raises(Exception, match="the web app's origin was never set"):
        Template.from_stack(stack)


def test_a_deferred_value_is_set_once():
    origin = Deferred("the origin")
    origin.set("https://a.example")
    with pytest.raises(ValueError, match="set already"):
        origin.set("https://b.example")
