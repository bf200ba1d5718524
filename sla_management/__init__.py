"""SLA Management System: an SLO control plane on Temporal, Prometheus and Kubernetes."""

__version__ = "0.1.0"
