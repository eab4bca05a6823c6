"""Observability: traces (OpenTelemetry), metrics (Prometheus) and logs, one module each.

Everything here is off or cheap unless asked for: with no OTEL_* exporter set, nothing imports
the OpenTelemetry SDK and the hot paths test one module flag (`tracing.ACTIVE`). See
docs/observability.md for the variables, the metric names and an example trace.
"""
