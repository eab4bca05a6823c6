"""The outbox relay: stored events to the `orders` exchange."""
