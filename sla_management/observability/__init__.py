"""The system's own telemetry: Prometheus metrics and structured logs."""
