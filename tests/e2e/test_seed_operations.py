"""The original service's documented operations, verbatim, over HTTP on PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.support import ADMIN, gql

PLACE = """
  mutation {
    placeOrder(userId: 1, productId: 1, quantity: 2) {
      success
      message
      order {
        id
        userId
        productId
        quantity
        status
      }
    }
  }
"""

UPDATE = """
  mutation {
    updateOrder(id: 1, status: "Shipped") {
      success
      message
    }
  }
"""

GET_ORDERS = """
  query {
    getOrders {
      id
      userId
      productId
      quantity
      status
    }
  }
"""

GET_ORDER = """
  query {
    getOrder(id: 1) {
      id
      userId
      productId
      quantity
      status
    }
  }
"""


async def test_the_seed_operations_work_verbatim_in_sequence(client: Any) -> None:
    placed = await gql(client, PLACE, headers=ADMIN)
    assert placed == {
        "data": {
            "placeOrder": {
                "success": True,
                "message": "Order placed successfully",
                "order": {
                    "id": "1",
                    "userId": "1",
                    "productId": "1",
                    "quantity": 2,
                    "status": "PENDING",
                },
            }
        }
    }

    updated = await gql(client, UPDATE, headers=ADMIN)
    assert updated == {
        "data": {"updateOrder": {"success": True, "message": "Order updated successfully"}}
    }

    expected = {"id": "1", "userId": "1", "productId": "1", "quantity": 2, "status": "SHIPPED"}
    listed = await gql(client, GET_ORDERS, headers=ADMIN)
    assert listed == {"data": {"getOrders": [expected]}}

    one = await gql(client, GET_ORDER, headers=ADMIN)
    assert one == {"data": {"getOrder": expected}}
