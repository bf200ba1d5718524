"""Notifications a policy's targets get, turned into outbox rows for the transaction that tells
of the event (`domain/notices.py` says what they say)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sla_management.adapters.postgres import PendingNotice, PolicyRepository
from sla_management.domain.notices import Links, Notice
from sla_management.domain.policy import Policy


def pending(policy: Policy, notice: Notice, event_id: uuid.UUID) -> list[PendingNotice]:
    """One row per notify target; ids derived from the event's, so a retried activity writes
    the same rows and receivers see each event once per target."""
    return [
        PendingNotice(
            id=uuid.uuid5(event_id, f"notify-{index}"),
            kind=notice.kind.value,
            policy_id=policy.id,
            channel=target.type.value,
            target=target.model_dump(mode="json", by_alias=True),
            notice=notice.model_dump(mode="json", by_alias=True),
        )
        for index, target in enumerate(policy.notify)
    ]


class Herald:
    """Looks up the policy's notify targets and renders the notice for each."""

    def __init__(self, policies: PolicyRepository, links: Links) -> None:
        self._policies = policies
        self.links = links

    async def notices(
        self, policy_id: str, event_id: uuid.UUID, render: Callable[[Policy, Links], Notice]
    ) -> list[PendingNotice]:
        policy = await self._policies.get(policy_id)
        if policy is None or not policy.notify:
            return []
        return pending(policy, render(policy, self.links), event_id)
