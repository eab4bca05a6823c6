"""The orders subgraph: orders for federated GraphQL commerce stacks."""

__version__ = "0.1.0"
