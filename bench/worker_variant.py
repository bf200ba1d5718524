"""`sla worker`, with bench-only changes switched on by flags, to measure proposed fixes
before anyone edits the package:

    --quiet-httpx        httpx's per-request INFO line off (sla_management/logging.py)
    --batched            one Prometheus request per pass for the instant queries (bench/batched.py)
    --max-cached N       Temporal's sticky workflow cache (the SDK default is 1,000 workflows)

Settings come from the environment exactly as for `sla worker`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging

from sla_management.config import get_settings
from sla_management.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quiet-httpx", action="store_true")
    parser.add_argument("--batched", action="store_true")
    parser.add_argument("--max-cached", type=int, default=0)
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level)
    if args.quiet_httpx:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.batched:
        from bench.batched import run_plan_batched
        from sla_management.adapters.prometheus import PrometheusClient

        PrometheusClient.run_plan = run_plan_batched  # type: ignore[method-assign]
    if args.max_cached:
        import sla_management.worker.main as worker_main

        worker_main.Worker = functools.partial(  # type: ignore[misc]
            worker_main.Worker, max_cached_workflows=args.max_cached
        )
    from sla_management.worker.main import run_worker

    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
