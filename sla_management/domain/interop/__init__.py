"""SLO definitions in other formats: OpenSLO v1, Sloth `prometheus/v1`, Prometheus alert rules.

Pure conversions, no I/O: text in, `SLOSpec`s out (with what was skipped and why), and back.
The API and the CLI only move the text.
"""
