"""A local stack on loopback: real Temporal, PostgreSQL, Redis, Kafka, Prometheus, Alertmanager.

`processes` (spawning, stopping, readiness), `servers` and `databases` start one server each and
are shared by `sla dev` and the test suite's session fixtures, so what developers run by hand is
what the tests run against. `stack` is `sla dev` itself; `supervision` keeps its API and worker
running; `configs`, `leftovers` and `workload` are what it writes, what it cleans up after a
killed run, and the demo it runs.
"""
