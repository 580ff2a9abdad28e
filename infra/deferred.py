"""A string that constructs read before it is known: a token now, its value given once it exists.

CloudFormation resolves references in any order that has no cycle, but constructs are built one after the
other: when construct A needs a value of construct B at construction and B needs A's, one of them takes a
:class:`Deferred` token and the stack sets it once the other exists. Synthesis fails, naming what was never
set, if the stack forgets to.

Example:
    >>> origin = Deferred("the web app's origin")
    >>> api = Api(..., web_origin=origin.token)  # doctest: +SKIP
    >>> webapp = WebApp(..., api_origin=api.origin)  # doctest: +SKIP
    >>> origin.set(webapp.origin)  # doctest: +SKIP
"""

from __future__ import annotations

import jsii
from aws_cdk import IStableStringProducer, Lazy


@jsii.implements(IStableStringProducer)
class Deferred:
    def __init__(self, what: str) -> None:
        self._what = what
        self._value: str | None = None
        self.token: str = Lazy.string(self)

    def set(self, value: str) -> None:
        if self._value is not None:
            raise ValueError(f"{self._what} is set already")
        self._value = value

    def produce(self) -> str:
        """Called by CDK when the template is written (once: the value is stable)."""
        if self._value is None:
            raise ValueError(f"{self._what} was never set: the stack must set it before synthesis")
        return self._value
