"""Publishing and consuming the events of the orders subgraph over RabbitMQ (FastStream)."""
