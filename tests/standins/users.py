"""Stand-in ``users`` subgraph: owns the ``User`` entity (tests and local demo only).

Run: ``python -m tests.standins.users --port 4001`` (serves on 127.0.0.1).
Data is deterministic: ids "1".."200", name "User <id>", email "user<id>@example.com".
"""

from __future__ import annotations

import strawberry

FEDERATION_VERSION = "2.11"
MAX_ID = 200


def _known(id_: str) -> bool:
    return id_.isdigit() and 1 <= int(id_) <= MAX_ID and str(int(id_)) == id_


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID
    name: str
    email: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User | None:
        return get_user(str(id))


def get_user(id_: str) -> User | None:
    if not _known(id_):
        return None
    return User(id=strawberry.ID(id_), name=f"User {id_}", email=f"user{id_}@example.com")


@strawberry.type
class Query:
    @strawberry.field
    def user(self, id: strawberry.ID) -> User | None:
        return get_user(str(id))

    @strawberry.field
    def users(self, first: int | None = 50) -> list[User]:
        count = max(0, min(MAX_ID, 50 if first is None else first))
        return [u for i in range(1, count + 1) if (u := get_user(str(i))) is not None]


schema = strawberry.federation.Schema(
    query=Query, types=[User], federation_version=FEDERATION_VERSION
)


if __name__ == "__main__":
    from tests.standins._serve import serve

    serve(schema, name="users", default_port=4001)
