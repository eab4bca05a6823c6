"""Stand-in ``products`` subgraph: owns the ``Product`` entity (tests and local demo only).

Run: ``python -m tests.standins.products --port 4002`` (serves on 127.0.0.1).
Data is deterministic: ids "1".."200", name "Product <id>", price = id * 1.5.
"""

from __future__ import annotations

import strawberry

FEDERATION_VERSION = "2.11"
MAX_ID = 200


def _known(id_: str) -> bool:
    return id_.isdigit() and 1 <= int(id_) <= MAX_ID and str(int(id_)) == id_


@strawberry.federation.type(keys=["id"])
class Product:
    id: strawberry.ID
    name: str
    price: float

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Product | None:
        return get_product(str(id))


def get_product(id_: str) -> Product | None:
    if not _known(id_):
        return None
    return Product(id=strawberry.ID(id_), name=f"Product {id_}", price=int(id_) * 1.5)


@strawberry.type
class Query:
    @strawberry.field
    def product(self, id: strawberry.ID) -> Product | None:
        return get_product(str(id))

    @strawberry.field
    def products(self, first: int | None = 50) -> list[Product]:
        count = max(0, min(MAX_ID, 50 if first is None else first))
        return [p for i in range(1, count + 1) if (p := get_product(str(i))) is not None]


schema = strawberry.federation.Schema(
    query=Query, types=[Product], federation_version=FEDERATION_VERSION
)


if __name__ == "__main__":
    from tests.standins._serve import serve

    serve(schema, name="products", default_port=4002)
