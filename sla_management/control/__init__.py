"""The application layer: every use case of the control plane, in one place.

Each function takes plain inputs and the process's `Clients`, and returns domain objects or
raises `sla_management.errors`. The REST API, the web console, the Kubernetes operator and the
CLI call these and only translate (HTTP in and problem documents out, resources in and
conditions out). The ordering rule every change follows is written once, in `lifecycle.py`:
store the definition, then make its loop hear it.
"""
