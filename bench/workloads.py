"""What each cell sends: GraphQL bodies with real tokens, written as request files for wrk."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

# The seed's own selection set, so the numbers speak for what existing clients ask.
ORDER_FIELDS = "id userId productId quantity status"
PLACE_ORDER = (
    "mutation Place($u: ID!, $p: ID!, $q: Int!) { placeOrder(userId: $u, productId: $p, "
    f"quantity: $q) {{ success message order {{ {ORDER_FIELDS} }} }} }}"
)
# What owners do to their orders most: change the quantity of one still PENDING (the seed's
# orders all are, and stay so: a quantity change leaves the status alone, so the cell can run
# as long as it likes; a cancel or a status move would make its order final within a round).
UPDATE_ORDER = (
    "mutation Update($id: ID!, $q: Int!) { updateOrder(id: $id, quantity: $q) "
    f"{{ success message order {{ {ORDER_FIELDS} }} }} }}"
)
GET_ORDER = f"query One($id: ID!) {{ getOrder(id: $id) {{ {ORDER_FIELDS} }} }}"
GET_ORDERS = f"query Page {{ getOrders(limit: 20) {{ {ORDER_FIELDS} }} }}"
# The stack's own ceiling: the same HTTP, Litestar, Strawberry and graphql-core path (token
# sent, guards on) for an operation that needs no database. No order cell can be faster.
TYPENAME = "query Ceiling { __typename }"
# What a router sends to add `orders` to users: recent orders of each user.
USER_ENTITIES = (
    "query Users($r: [_Any!]!) { _entities(representations: $r) { "
    "... on User { id orders(limit: 5) { id status quantity } } } }"
)
ORDER_ENTITIES = (
    "query Orders($r: [_Any!]!) { _entities(representations: $r) { "
    "... on Order { id userId status quantity } } }"
)
LINES_PER_FILE = 2000


@dataclass(frozen=True)
class Seed:
    """The seeded data the requests refer to: order n belongs to user 1 + (n - 1) % users."""

    users: int
    orders: int

    def owner(self, order_id: int) -> str:
        return str(1 + (order_id - 1) % self.users)


class Tokens:
    """Real HS256 tokens signed with the service's secret, one per user, minted once."""

    def __init__(self, secret: str, ttl_seconds: int = 4 * 3600) -> None:
        self._secret = secret
        self._ttl = ttl_seconds
        self._cache: dict[tuple[str, bool], str] = {}

    def for_user(self, sub: str, *, admin: bool = False) -> str:
        key = (sub, admin)
        if key not in self._cache:
            now = int(time.time())
            claims: dict[str, object] = {"sub": sub, "iat": now, "exp": now + self._ttl}
            if admin:
                claims["roles"] = ["admin"]
            self._cache[key] = jwt.encode(claims, self._secret, algorithm="HS256")
        return self._cache[key]


def _body(query: str, variables: dict[str, object] | None = None) -> str:
    payload: dict[str, object] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    return json.dumps(payload, separators=(",", ":"))


def cell_lines(cell: str, seed: Seed, tokens: Tokens, rng: random.Random) -> list[tuple[str, str]]:
    """(token, body) pairs for one cell; wrk sends them in turn."""
    admin = tokens.for_user("0", admin=True)
    lines: list[tuple[str, str]] = []
    big = cell.startswith("entities") and not cell.endswith("_1")
    for _ in range(50 if big else LINES_PER_FILE):
        user = str(rng.randint(1, seed.users))
        if cell == "placeOrder":
            variables = {"u": user, "p": str(rng.randint(1, 500)), "q": rng.randint(1, 9)}
            lines.append((tokens.for_user(user), _body(PLACE_ORDER, variables)))
        elif cell == "updateOrder":
            order_id = rng.randint(1, seed.orders)
            body = _body(UPDATE_ORDER, {"id": str(order_id), "q": rng.randint(1, 9)})
            lines.append((tokens.for_user(seed.owner(order_id)), body))
        elif cell == "getOrder":
            order_id = rng.randint(1, seed.orders)
            body = _body(GET_ORDER, {"id": str(order_id)})
            lines.append((tokens.for_user(seed.owner(order_id)), body))
        elif cell == "getOrders":
            lines.append((tokens.for_user(user), _body(GET_ORDERS)))
        elif cell == "typename":
            lines.append((tokens.for_user(user), _body(TYPENAME)))
        elif cell.startswith("entities_user_") or cell.startswith("entities_order_"):
            kind, size = cell.split("_")[1], int(cell.rsplit("_", 1)[1])
            if kind == "user":
                ids = rng.sample(range(1, seed.users + 1), size)
                reps = [{"__typename": "User", "id": str(i)} for i in ids]
                lines.append((admin, _body(USER_ENTITIES, {"r": reps})))
            else:
                ids = rng.sample(range(1, seed.orders + 1), size)
                reps = [{"__typename": "Order", "id": str(i)} for i in ids]
                lines.append((admin, _body(ORDER_ENTITIES, {"r": reps})))
        else:
            raise ValueError(f"unknown cell {cell}")
    return lines


def write_lines(path: Path, lines: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{token}\t{body}\n" for token, body in lines))
    return path


# A fixed GraphQL-shaped answer for floor (a): what getOrder returns, byte for byte in shape.
FIXED_RESPONSE = json.dumps(
    {
        "data": {
            "getOrder": {
                "id": "4242",
                "userId": "17",
                "productId": "230",
                "quantity": 3,
                "status": "PENDING",
            }
        }
    },
    separators=(",", ":"),
).encode()
