"""Every way of presenting a bad token is an UNAUTHENTICATED error with no data, over HTTP.

Each row names the app's key configuration, the credentials sent and the exact reason the
client gets back; the body must be that one error and nothing else (no data, no token, no key).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.conftest import AppFactory
from tests.security.conftest import (
    QUERY,
    JwksServer,
    KeyPair,
    claims_with_defaults,
    collected_logs,
    hand_signed_hs256,
)

SECRET = os.environ["JWT_SECRET_KEY"]
AUDIENCE = "orders-subgraph"
ISSUER = "https://users.example.test"
NO_TOKEN = "Authentication required: send Authorization: Bearer <token>"


def refusal(reason: str) -> dict[str, Any]:
    """The whole body of a refused QUERY: no data, one error at the field that needed a token."""
    error = {
        "message": reason,
        "locations": [{"line": 1, "column": 3}],
        "path": ["getOrders"],
        "extensions": {"code": "UNAUTHENTICATED"},
    }
    return {"data": None, "errors": [error]}


@dataclass(frozen=True)
class Keys:
    trusted: KeyPair
    stranger: KeyPair
    jwks_url: str


def hs(**claims: Any) -> str:
    return jwt.encode(claims_with_defaults(claims), SECRET, algorithm="HS256")


def configuration(name: str, keys: Keys) -> dict[str, Any]:
    return {
        "secret": {},
        "addressed": {"jwt_audience": AUDIENCE, "jwt_issuer": ISSUER},
        "public_key": {"jwt_public_key": keys.trusted.public_pem, "jwt_algorithms": ["RS256"]},
        "jwks": {"jwt_jwks_url": keys.jwks_url, "jwt_algorithms": ["RS256"]},
    }[name]


@dataclass(frozen=True)
class Attack:
    name: str
    config: str
    reason: str
    token: Callable[[Keys], str | None]
    header: Callable[[str], str] = lambda token: f"Bearer {token}"
    in_query_string: str | None = None  # the parameter that carries the token instead


ATTACKS = [
    Attack("no Authorization header", "secret", NO_TOKEN, lambda k: None),
    Attack("Bearer with garbage", "secret", "Token is malformed or invalid", lambda k: "garbage"),
    Attack(
        "Basic credentials",
        "secret",
        "Authorization header must be: Bearer <token>",
        lambda k: "dXNlcjpwYXNz",
        header=lambda token: f"Basic {token}",
    ),
    Attack(
        "alg none",
        "secret",
        "Token algorithm is not accepted",
        lambda k: jwt.encode(claims_with_defaults({"roles": ["admin"]}), None, algorithm="none"),
    ),
    Attack(
        "alg none against a public key",
        "public_key",
        "Token algorithm is not accepted",
        lambda k: jwt.encode(claims_with_defaults({}), None, algorithm="none"),
    ),
    Attack(
        "HS256 signed with the RS public key as its secret",
        "public_key",
        "Token algorithm is not accepted",
        lambda k: hand_signed_hs256(k.trusted.public_pem.encode(), {"roles": ["admin"]}),
    ),
    Attack(
        "HS256 signed with the JWKS public key as its secret, naming its kid",
        "jwks",
        "Token algorithm is not accepted",
        lambda k: hand_signed_hs256(k.trusted.public_pem.encode(), {}, kid=k.trusted.kid),
    ),
    Attack("expired", "secret", "Token has expired", lambda k: hs(exp=int(time.time()) - 3600)),
    Attack(
        "not yet valid",
        "secret",
        "Token is not yet valid",
        lambda k: hs(nbf=int(time.time()) + 3600),
    ),
    Attack(
        "issued in the future",
        "secret",
        "Token is not yet valid",
        lambda k: hs(iat=int(time.time()) + 3600),
    ),
    Attack(
        "wrong audience",
        "addressed",
        "Token audience is not accepted",
        lambda k: hs(aud="billing", iss=ISSUER),
    ),
    Attack("no audience", "addressed", "Token lacks the 'aud' claim", lambda k: hs(iss=ISSUER)),
    Attack(
        "wrong issuer",
        "addressed",
        "Token issuer is not accepted",
        lambda k: hs(aud=AUDIENCE, iss="https://evil.example.test"),
    ),
    Attack(
        "wrong secret",
        "secret",
        "Token signature is invalid",
        lambda k: jwt.encode(claims_with_defaults({}), "another-secret-" + "y" * 40, "HS256"),
    ),
    Attack(
        "another RSA key under the trusted kid",
        "public_key",
        "Token signature is invalid",
        lambda k: KeyPair(k.trusted.kid, k.stranger.private).sign(),
    ),
    Attack("unknown kid", "jwks", "Token signing key is unknown", lambda k: k.stranger.sign()),
    Attack("no exp", "secret", "Token lacks the 'exp' claim", lambda k: hs(exp=None)),
    Attack("no sub", "secret", "Token lacks the 'sub' claim", lambda k: hs(sub=None)),
    Attack(
        "a number as sub",
        "secret",
        "Token subject must be a non-empty string",
        lambda k: hs(sub=7),
    ),
    Attack("token in ?token=", "secret", NO_TOKEN, lambda k: hs(), in_query_string="token"),
    Attack(
        "token in ?access_token=",
        "secret",
        NO_TOKEN,
        lambda k: hs(roles=["admin"]),
        in_query_string="access_token",
    ),
]


@pytest.fixture
def keys(trusted_key: KeyPair, stranger_key: KeyPair, jwks_server: JwksServer) -> Keys:
    return Keys(trusted_key, stranger_key, jwks_server.url)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_a_bad_credential_is_unauthenticated_with_no_data(
    attack: Attack, keys: Keys, app_with: AppFactory
) -> None:
    token = attack.token(keys)
    headers: dict[str, str] = {}
    url = "/graphql"
    if token is not None and attack.in_query_string:
        url += f"?{attack.in_query_string}={token}"
    elif token is not None:
        headers["Authorization"] = attack.header(token)

    async with app_with(**configuration(attack.config, keys)) as client:
        response = await client.post(url, json={"query": QUERY}, headers=headers)

    assert response.status_code == 200
    assert response.json() == refusal(attack.reason)
    for secret in filter(None, [token, SECRET, keys.trusted.public_pem.splitlines()[1]]):
        assert secret not in response.text


@pytest.mark.parametrize("config", ["secret", "addressed", "public_key", "jwks"])
async def test_a_valid_token_is_accepted_under_each_key_configuration(
    config: str, keys: Keys, app_with: AppFactory
) -> None:
    """The control for the table above: each configuration does let a good token in."""
    token = {
        "secret": lambda: hs(),
        "addressed": lambda: hs(aud=AUDIENCE, iss=ISSUER),
        "public_key": lambda: keys.trusted.sign(),
        "jwks": lambda: keys.trusted.sign(),
    }[config]()
    async with app_with(**configuration(config, keys)) as client:
        response = await client.post(
            "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.json() == {"data": {"getOrders": []}}


async def test_an_unauthenticated_mutation_changes_nothing(app_with: AppFactory) -> None:
    place = 'mutation { placeOrder(userId: "7", productId: "1", quantity: 1) { success } }'
    async with app_with() as client:
        refused = await client.post(
            "/graphql", json={"query": place}, headers={"Authorization": "Bearer garbage"}
        )
        admin = {"Authorization": f"Bearer {hs(sub='admin-1', roles=['admin'])}"}
        after = await client.post("/graphql", json={"query": QUERY}, headers=admin)
    assert refused.json()["data"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in refused.json()["errors"]] == [
        (["placeOrder"], "UNAUTHENTICATED")
    ]
    assert after.json() == {"data": {"getOrders": []}}


async def test_jwks_keys_are_fetched_once_and_then_served_from_the_cache(
    keys: Keys, jwks_server: JwksServer, app_with: AppFactory
) -> None:
    async with app_with(**configuration("jwks", keys)) as client:
        for _ in range(3):
            response = await client.post(
                "/graphql",
                json={"query": QUERY},
                headers={"Authorization": f"Bearer {keys.trusted.sign()}"},
            )
            assert response.json() == {"data": {"getOrders": []}}
    assert jwks_server.fetches == 1


async def test_a_newly_published_key_is_fetched_when_its_kid_first_appears(
    keys: Keys, jwks_server: JwksServer, app_with: AppFactory
) -> None:
    settings = {**configuration("jwks", keys), "jwt_jwks_refresh_cooldown_seconds": 0}
    async with app_with(**settings) as client:
        first = await client.post(
            "/graphql",
            json={"query": QUERY},
            headers={"Authorization": f"Bearer {keys.trusted.sign()}"},
        )
        jwks_server.keys.append(keys.stranger.jwk())  # the issuer rotates in a new key
        rotated = await client.post(
            "/graphql",
            json={"query": QUERY},
            headers={"Authorization": f"Bearer {keys.stranger.sign()}"},
        )
    assert first.json() == {"data": {"getOrders": []}}
    assert rotated.json() == {"data": {"getOrders": []}}
    assert jwks_server.fetches == 2


async def test_a_key_withdrawn_from_the_jwks_stops_working_once_the_cached_set_expires(
    keys: Keys, jwks_server: JwksServer, app_with: AppFactory
) -> None:
    settings = {**configuration("jwks", keys), "jwt_jwks_cache_seconds": 0.2}
    trusted = {"Authorization": f"Bearer {keys.trusted.sign()}"}
    async with app_with(**settings) as client:
        before = await client.post("/graphql", json={"query": QUERY}, headers=trusted)
        jwks_server.keys = [keys.stranger.jwk()]  # the trusted key is withdrawn
        await asyncio.sleep(0.4)
        after = await client.post("/graphql", json={"query": QUERY}, headers=trusted)
    assert before.json() == {"data": {"getOrders": []}}
    assert after.json()["errors"][0]["message"] == "Token signing key is unknown"


async def test_an_unreachable_jwks_endpoint_is_unauthenticated_not_a_server_error(
    keys: Keys, app_with: AppFactory
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = keys.trusted.sign()
    settings = {"jwt_jwks_url": f"http://127.0.0.1:{port}/jwks.json", "jwt_algorithms": ["RS256"]}
    async with app_with(**settings) as client:
        with collected_logs() as logs:
            response = await client.post(
                "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {token}"}
            )
    assert response.status_code == 200
    assert response.json() == refusal("Token signing keys cannot be fetched right now")
    assert "subgraph.auth WARNING cannot fetch the JWK set" in logs.text()
    assert token not in logs.text()


async def test_the_refusal_names_the_first_field_that_needed_a_token_and_nothing_runs(
    client: Any,
) -> None:
    query = """query Mixed {
      __typename
      _service { sdl }
      mine: getOrder(id: 1) { id }
      getOrders { id }
    }"""
    response = await client.post("/graphql", json={"query": query})
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": NO_TOKEN,
                "locations": [{"line": 4, "column": 7}],
                "path": ["mine"],
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ],
    }


async def test_public_fields_alone_need_no_token(client: Any) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename _service { sdl } }"})
    body = response.json()
    assert "errors" not in body
    assert body["data"]["__typename"] == "Query"


async def test_entities_without_a_token_refuse_each_entity_that_reads_orders(
    client: Any,
) -> None:
    """Per entity, not up front: the router maps `_entities.1.orders` to where it belongs."""
    query = """query($r: [_Any!]!) {
      _entities(representations: $r) { ... on Order { id } ... on User { id orders { id } } }
    }"""
    representations = [{"__typename": "Order", "id": "1"}, {"__typename": "User", "id": "7"}]
    response = await client.post(
        "/graphql", json={"query": query, "variables": {"r": representations}}
    )
    body = response.json()
    assert body["data"] == {"_entities": [None, None]}
    assert sorted((e["path"], e["extensions"]["code"], e["message"]) for e in body["errors"]) == [
        (["_entities", 0], "UNAUTHENTICATED", NO_TOKEN),
        (["_entities", 1, "orders"], "UNAUTHENTICATED", NO_TOKEN),
    ]


async def test_entities_without_a_token_refuse_every_order_of_a_batch_in_its_own_place(
    client: Any,
) -> None:
    """Orders of one batch are resolved together; a refusal still lands on each of them."""
    query = """query($r: [_Any!]!) {
      _entities(representations: $r) { ... on Order { id } ... on User { id } }
    }"""
    representations = [
        {"__typename": "Order", "id": "1"},
        {"__typename": "User", "id": "7"},
        {"__typename": "Order", "id": "2"},
    ]
    response = await client.post(
        "/graphql", json={"query": query, "variables": {"r": representations}}
    )
    body = response.json()
    assert body["data"] == {"_entities": [None, {"id": "7"}, None]}
    assert sorted((e["path"], e["extensions"]["code"]) for e in body["errors"]) == [
        (["_entities", 0], "UNAUTHENTICATED"),
        (["_entities", 2], "UNAUTHENTICATED"),
    ]


async def test_a_remembered_token_is_refused_once_it_expires(app_with: AppFactory) -> None:
    expires = int(time.time()) + 2
    token = {"Authorization": f"Bearer {hs(exp=expires)}"}
    async with app_with(jwt_leeway_seconds=0) as client:
        fresh = await client.post("/graphql", json={"query": QUERY}, headers=token)
        again = await client.post("/graphql", json={"query": QUERY}, headers=token)
        await asyncio.sleep(expires - time.time() + 0.1)
        expired = await client.post("/graphql", json={"query": QUERY}, headers=token)
    assert fresh.json() == again.json() == {"data": {"getOrders": []}}
    assert expired.json() == refusal("Token has expired")


def test_verified_tokens_are_bounded_and_forget_the_least_recently_used() -> None:
    from subgraph.auth import Validity, VerifiedTokens
    from subgraph.domain.access import Principal

    tokens = VerifiedTokens(size=2, ttl=60)
    window = Validity(not_before=100, expires=1000)
    for name in ("a", "b"):
        tokens.put(name, Principal(user_id=name, is_admin=False), window, now=100)
    assert tokens.get("a", now=101) == Principal(user_id="a", is_admin=False)  # a is now newest
    tokens.put("c", Principal(user_id="c", is_admin=False), window, now=102)
    assert [tokens.get(name, now=103) for name in ("a", "b", "c")] == [
        Principal(user_id="a", is_admin=False),
        None,
        Principal(user_id="c", is_admin=False),
    ]
    # The entry lives `ttl` seconds at most, and never outside the token's own window.
    assert tokens.get("a", now=160) is None
    tokens.put("d", Principal(user_id="d", is_admin=False), Validity(200, 210), now=205)
    assert tokens.get("d", now=199) is None
    assert VerifiedTokens(size=0, ttl=60).get("a", now=0) is None
