"""Storage of orders, their history and their outbox with Piccolo (PostgreSQL or SQLite)."""
