"""Who may see and change which order: the authorization rules, free of any token format."""

from __future__ import annotations

from dataclasses import dataclass

from subgraph.domain.errors import AccessDenied
from subgraph.domain.order import OrderStatus


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: `user_id` is the token's subject."""

    user_id: str
    is_admin: bool = False

    def owns(self, user_id: str) -> bool:
        return self.user_id == user_id

    def can_view(self, order_user_id: str) -> bool:
        """Admins see every order; anyone else only their own."""
        return self.is_admin or self.owns(order_user_id)

    def check_can_place_for(self, user_id: str) -> None:
        """Non-admins place orders only for themselves."""
        if not self.is_admin and not self.owns(user_id):
            raise AccessDenied("You can place orders only for yourself")

    def check_can_update(
        self, order_user_id: str, *, status: OrderStatus | None, quantity: int | None
    ) -> None:
        """Owners may cancel or change the quantity; every other status move is for admins."""
        if self.is_admin:
            return
        if not self.owns(order_user_id):
            raise AccessDenied("You can change only your own orders")
        if status is not None and status is not OrderStatus.CANCELLED:
            raise AccessDenied("Only an admin can set an order's status other than CANCELLED")

    def check_can_delete(self) -> None:
        if not self.is_admin:
            raise AccessDenied("Only an admin can delete orders")
