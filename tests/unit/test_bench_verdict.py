"""The bench divides each cell by the mean of its floor's passes before and after the service."""

from __future__ import annotations

from typing import Any

from bench import verdict


def summary(rps: float, p99_ms: float = 10.0) -> dict[str, Any]:
    return {"summary": {"rps": rps, "p50_ms": 1.0, "p99_ms": p99_ms, "errors": 0}}


def row(record: dict[str, Any], cell: str) -> dict[str, Any]:
    return next(r for r in verdict.rows(record) if r["cell"] == cell)


def test_a_ratio_uses_the_floor_of_the_one_pass_there_is() -> None:
    record = {"floors": {"c_get": summary(20_000)}, "cells": {"getOrder": summary(3_900)}}
    got = row(record, "getOrder")
    assert (got["floor"], got["ratio"], got["met"]) == ("c_get", "19.5%", "NO")


def test_a_ratio_uses_the_mean_of_the_floor_before_and_after_the_service() -> None:
    record = {
        "floors": {"c_get": summary(21_000)},
        "floors_after": {"c_get": summary(17_000)},
        "cells": {"getOrder": summary(3_900)},
    }
    got = row(record, "getOrder")
    assert (got["floor"], got["ratio"], got["met"]) == ("c_get mean of 2", "20.5%", "yes")
    cells = [r["cell"] for r in verdict.rows(record)]
    assert "floor (c) raw asyncpg get by id, after the service" in cells


def test_an_entities_row_sets_the_sql_alone_against_the_single_representation() -> None:
    record = {
        "floors": {"e_entities": {"user_1000": {"p50_ms": 27.6, "p99_ms": 40.0}}},
        "cells": {
            "entities_user_1": {**summary(2_000), "unloaded": {"p50_ms": 2.0}},
            "entities_user_1000": {**summary(7), "unloaded": {"p50_ms": 180.0}},
        },
    }
    got = row(record, "entities_user_1000")
    assert got["ratio"] == "90.0x (p50 180.0 ms); SQL alone 27.6 ms = 13.8x"
    assert got["met"] == "NO"
    floor = row(record, "floor (e) raw asyncpg _entities SQL, orders of users x1000 (1 conn)")
    assert (floor["p50_ms"], floor["p99_ms"]) == (27.6, 40.0)


def test_the_place_order_budget_sets_the_floors_own_cpu_against_what_the_target_allows() -> None:
    record = {
        "conditions": {"cores": 2},
        "floors": {"b_place": summary(2_000), "d_publish": summary(5_000)},
        "cells": {
            "placeOrder": summary(500),
            "typename": {
                "summary": {**summary(6_000)["summary"], "server_cpu_ms_per_request": 0.3}
            },
        },
        "cpu": {
            "floor_b_place": {"machine_busy": 190.0},
            "floor_d_publish": {"machine_busy": 150.0},
            "placeOrder": {"machine_busy": 200.0},
        },
    }
    got = row(record, "placeOrder at 60% of floor (b): machine CPU ms per order")
    # 2 cores at 1,200 orders/s: 1.67 ms each; floor (b) 0.95 + (d) 0.30 + typename 0.30.
    assert got["ratio"] == (
        "allowed 1.67; floors alone 1.55 (b 0.95 + d 0.30 + typename 0.30) = 93% of it; "
        "service 4.00"
    )
    assert (got["target"], got["met"]) == ("service <= 1.67", "NO")
