"""The resolver `info` type, parameterised with our context."""

from typing import Any, TypeAlias

import strawberry

from subgraph.api.context import RequestContext

Info: TypeAlias = strawberry.Info[RequestContext, Any]
