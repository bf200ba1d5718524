"""The Kubernetes operator (kopf): SLODefinition and SLAPolicy resources as the source of truth.

A resource is applied to the same PostgreSQL rows and Temporal workflows the REST API uses,
marked as managed by Kubernetes (the API then answers 409 to edits), and its status is kept
current from those workflows. `resources` converts at the edge, `reconcile` does the work,
`handlers` wires both into kopf, `main` runs it.
"""
