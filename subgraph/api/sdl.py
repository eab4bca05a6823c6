"""The SDL this subgraph hands to composition, with only the router directives it is asked for.

Strawberry prints every directive a field carries; `FEDERATION_DIRECTIVES` decides which of the
router-enforced ones (`@authenticated`, `@listSize`) stay. Leaving one out removes its uses and
its name from the federation `@link(import:)`, so a router that does not know it (or, like
@apollo/gateway, refuses a supergraph that links it `for: SECURITY`) never sees it. The cut is
made in the printed text at the parser's locations, so what stays is byte for byte Strawberry's.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

import strawberry
from graphql import DirectiveNode, ListValueNode, StringValueNode, Visitor, parse, visit

FEDERATION_LINK_PREFIX = "https://specs.apollo.dev/federation/"


def without_directives(sdl: str, names: Collection[str]) -> str:
    """`sdl` with every use of the directives `names` removed, and their `@link` imports."""
    if not names:
        return sdl
    cuts = _Cuts(set(names))
    visit(parse(sdl), cuts)
    for start, end in reversed(_merged(cuts.spans)):
        sdl = sdl[:start] + sdl[end:]
    return sdl


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans sorted, overlapping ones joined (two removed imports side by side)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class _Cuts(Visitor):
    """Collects the (start, end) spans of the text to remove."""

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.names = names
        self.spans: list[tuple[int, int]] = []

    def enter_directive(self, node: DirectiveNode, *_: object) -> None:
        assert node.loc is not None
        if node.name.value in self.names:
            # With the blank before it: `String! @authenticated` becomes `String!`.
            self.spans.append((_blank_before(node.loc.source.body, node.loc.start), node.loc.end))
        elif node.name.value == "link":
            self._cut_imports(node)

    def _cut_imports(self, link: DirectiveNode) -> None:
        arguments = {argument.name.value: argument.value for argument in link.arguments or ()}
        url, imports = arguments.get("url"), arguments.get("import")
        if not (
            isinstance(url, StringValueNode)
            and url.value.startswith(FEDERATION_LINK_PREFIX)
            and isinstance(imports, ListValueNode)
        ):
            return
        items = list(imports.values)
        keep = [
            not (isinstance(item, StringValueNode) and item.value.lstrip("@") in self.names)
            for item in items
        ]
        for index, item in enumerate(items):
            if keep[index]:
                continue
            assert item.loc is not None
            # Up to the next kept item, so `["@a", "@key"]` becomes `["@key"]`; the last kept
            # item keeps the separator only if something kept follows it.
            following = next((items[i] for i in range(index + 1, len(items)) if keep[i]), None)
            if following is not None and following.loc is not None:
                self.spans.append((item.loc.start, following.loc.start))
                continue
            before = next((items[i] for i in range(index - 1, -1, -1) if keep[i]), None)
            start = before.loc.end if before is not None and before.loc else item.loc.start
            self.spans.append((start, item.loc.end))
        if not any(keep) and items[0].loc and items[-1].loc:
            self.spans.append((items[0].loc.start, items[-1].loc.end))


def _blank_before(text: str, index: int) -> int:
    while index > 0 and text[index - 1] in " \t":
        index -= 1
    return index


class PrintsSdl(Protocol):
    """Our schema, as `_service` sees it through `info.schema`."""

    @property
    def sdl(self) -> str: ...


@strawberry.type(name="_Service")
class ServiceSdl:
    """Federation's `_service`: what composition reads."""

    sdl: str
