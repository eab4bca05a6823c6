"""The GraphQL adapter: Strawberry types, loaders and roots that translate to the use cases."""
