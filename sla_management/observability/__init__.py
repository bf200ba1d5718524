"""The system's own telemetry: Prometheus metrics (`metrics`, refreshed gauges in `refresh`,
per-activity and per-request instruments in `activities` and `http`), OpenTelemetry traces
(`tracing`) and the trace ids on structured logs (`logs`)."""
