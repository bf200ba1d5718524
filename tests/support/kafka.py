"""Read what really reached the broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer


@dataclass
class Event:
    key: str | None
    headers: dict[str, str]
    payload: dict[str, Any]


async def read_events(
    bootstrap: str,
    topic: str,
    match: Callable[[Event], bool],
    *,
    at_least: int = 1,
    timeout: float = 30,
) -> list[Event]:
    """Every event on `topic` from the beginning that `match`es, once `at_least` arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Event] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < at_least and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = Event(
                        key=record.key.decode() if record.key else None,
                        headers={k: v.decode() for k, v in record.headers},
                        payload=json.loads(record.value),
                    )
                    if match(event):
                        found.append(event)
    finally:
        await consumer.stop()
    return found
