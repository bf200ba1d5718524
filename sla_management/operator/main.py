"""`sla operator`: kopf, configured for the least the operator needs from the API server."""

from __future__ import annotations

import asyncio
import logging
import threading

import kopf

from sla_management.config import Settings
from sla_management.operator.handlers import build_registry
from sla_management.operator.resources import ANNOTATION_PREFIX, COMPONENT, FINALIZER


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # One replica: peering would need kopf's own CRDs and RBAC for them. The Deployment runs
    # a single pod with the Recreate strategy instead.
    settings.peering.standalone = True
    # No list/watch of CRDs and namespaces: the RBAC grants only our two resources, and the
    # namespaces served are given, not discovered.
    settings.scanning.disabled = True
    settings.persistence.finalizer = FINALIZER
    # Progress and the last handled spec in annotations of our own prefix; `status` holds
    # only what the CRD schema declares (a structural schema would prune anything else).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    # On exit, a status pass in flight (one Temporal query) finishes instead of being orphaned.
    settings.background.instant_exit_timeout = 3.0
    # Handlers post their own events, one per transition; kopf would add one per log line.
    settings.posting.level = logging.CRITICAL
    settings.posting.reporting_component = COMPONENT
    return settings


async def run_operator(
    settings: Settings,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
) -> None:
    """Serve SLODefinition and SLAPolicy resources until stopped (a signal, or `stop_flag`)."""
    namespaces = list(settings.operator.namespaces)
    await kopf.operator(
        registry=build_registry(settings.operator),
        settings=kopf_settings(),
        memo=kopf.Memo(settings=settings),
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=True,
        liveness_endpoint=settings.operator.liveness_endpoint,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
