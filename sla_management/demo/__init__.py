"""A demo workload: four services whose metrics tell a story on the SLO dashboard.

`scenario` is pure (counter values as functions of time); `backfill` writes 31 days of that
history into Prometheus blocks; `exporter` serves the same functions live, with incidents on
demand (`sla demo incident payments`).
"""
