"""A local stack on loopback: real Temporal, PostgreSQL, Redis, Kafka, Prometheus, Alertmanager.

`processes` starts one server each and is shared by `sla dev` and the test suite's session
fixtures, so what developers run by hand is what the tests run against.
"""
