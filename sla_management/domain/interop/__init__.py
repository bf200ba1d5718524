"""SLO definitions in other formats: OpenSLO v1/v1alpha, Sloth `prometheus/v1`, Pyrra
`ServiceLevelObjective`, and Prometheus rule files (Sloth's, Pyrra's, ours, hand-written).

Pure conversions, no I/O: text in, `SLOSpec`s out (with what was skipped and why), and back.
The API and the CLI only move the text.
"""
