"""Runs inside bench/.venv-slogen (google/slo-generator 2.6.0); imports nothing of ours.

Computes the benchmark SLOs with `slo_generator.compute.compute` in-process, one after another
as its CLI and API do, and prints one JSON line: SLOs/s, CPU, and each SLO's 30-day SLI.

    bench/.venv-slogen/bin/python bench/slogen_runner.py --url http://127.0.0.1:9090 --slos 50
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from slo_generator.compute import compute

BURN_WINDOWS = {"5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "24h": 86400, "3d": 259200}
SERVICES = 20


def step(name: str, window: int) -> dict[str, object]:
    return {
        "name": name,
        "window": window,
        "burn_rate_threshold": 1,
        "alert": False,
        "message_alert": "Page the SRE team",
        "message_ok": "Last window ok",
    }


def slo_config(index: int) -> dict[str, object]:
    svc = f"svc-{index % SERVICES:02d}"
    errors = f'sum(increase(bench_errors_total{{svc="{svc}"}}[window]))'
    requests = f'sum(increase(bench_requests_total{{svc="{svc}"}}[window]))'
    return {
        "apiVersion": "sre.google.com/v2",
        "kind": "ServiceLevelObjective",
        "metadata": {"name": f"bench-{index:05d}", "labels": {"service_name": svc}},
        "spec": {
            "description": "benchmark SLO",
            "backend": "prometheus",
            "method": "good_bad_ratio",
            "exporters": [],
            "service_level_indicator": {
                # The counters are errors and requests: good = requests - errors. `[window` is
                # slo-generator's placeholder, and no operators are wrapped around the queries.
                "filter_good": f"{requests} - {errors}",
                "filter_bad": errors,
                "operators": [],
            },
            "goal": 0.999 if index % 2 else 0.995,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--slos", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--burn-windows", action="store_true", help="add the 7 burn windows as steps")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    steps = [step("30d", 30 * 86400)]
    if args.burn_windows:
        steps += [step(name, seconds) for name, seconds in BURN_WINDOWS.items()]
    config = {
        "backends": {"prometheus": {"url": args.url}},
        "error_budget_policies": {"default": {"steps": steps}},
    }
    slos = [slo_config(i) for i in range(args.slos)]
    # One untimed SLO first: imports and the first connection are not the steady rate.
    compute(slos[0], config)
    sli: dict[str, float] = {}
    invalid = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.rounds):
        for slo in slos:
            reports = compute(slo, config)
            for report in reports:
                if not report.get("valid", True) or "sli_measurement" not in report:
                    invalid += 1
                    continue
                if report["error_budget_policy_step_name"] == "30d":
                    sli[slo["metadata"]["name"]] = report["sli_measurement"]  # type: ignore[index]
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    computed = args.slos * args.rounds
    print(
        json.dumps(
            {
                "steps": len(steps),
                "slos_computed": computed,
                "wall_seconds": round(wall, 2),
                "slos_per_second": round(computed / wall, 2),
                "client_cpu_ms_per_slo": round(1000 * cpu / computed, 2),
                "invalid_reports": invalid,
                "sli_30d": sli,
            }
        )
    )


if __name__ == "__main__":
    main()
