"""The errors of the control plane, in one place.

Adapters map their failures onto these (a lost PostgreSQL is `DatabaseUnavailable`, a query
Prometheus refused is `QueryRejected`), the application layer raises them for business rules,
and each front door translates them once: the API into problem documents (404, 409, 422, 503),
the operator into conditions and retries, the CLI into exit codes. `str()` is always the message
a user may see; nothing here carries a dependency's own internals.
"""

from __future__ import annotations

# Input quoted in a message is cut short: an error must not repeat a 5,000-character id.
from sla_management.domain.limits import echo as echo


class ControlPlaneError(Exception):
    """Base class: an outcome a caller is expected to handle."""


class NotFound(ControlPlaneError):
    """No such SLO, policy, freeze or budget (404)."""


class Conflict(ControlPlaneError):
    """The request contradicts what is stored: a name taken, an object managed by Kubernetes, a
    freeze already resolved (409)."""


class Invalid(ControlPlaneError):
    """The caller's input is wrong, with the field it is wrong in (422)."""

    def __init__(self, field: str, message: str, value: object = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.value = value


class InvalidValue(Invalid):
    """A value the store refused as malformed; the message is ours, never the database's."""

    def __init__(
        self,
        message: str = "a value in the request cannot be stored (for example a NUL character or a number out of range)",
    ) -> None:
        super().__init__("", message)


class QueryRejected(ControlPlaneError):
    """Prometheus refused the query (bad_data): its own error text, never retried."""


class ResultShapeError(ControlPlaneError):
    """A query ran but did not return what the SLI needs (e.g. several series, a scalar)."""


class Unavailable(ControlPlaneError):
    """A dependency the operation needs is down (503, or a retry later)."""


class DatabaseUnavailable(Unavailable):
    """PostgreSQL cannot be reached."""


class PrometheusUnavailable(Unavailable):
    """Prometheus did not answer usefully after every retry."""


class TemporalUnavailable(Unavailable):
    """Temporal is unreachable, refused a call, or no worker answered in time."""


class WorkflowUnreachable(TemporalUnavailable):
    """Temporal answered but the workflow did not (typically no worker polls its task queue)."""
