"""Markdown tables from bench/.work/results/*.json (what README.md's results were pasted from).

.venv/bin/python -m bench.summarize
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.stack import WORK

RESULTS = WORK / "results"


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _events(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    # The query of the loop state needs a worker; a saturated one did not answer in time.
    return "n/a" if value is None or str(value).startswith("failed") else str(value)


def loops() -> str:
    rows = [
        "| SLOs | mode | worker | evals/s (needed) | staleness p50 / p99 / max s | worker CPU % / RSS MB "
        "| Temporal CPU % / RSS MB | Prometheus CPU % | other load CPU % | CPU ms per eval: worker / "
        "Temporal / Prometheus | history events per pass |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("loop-*.json"), key=lambda p: (len(p.name), p.name)):
        r = _load(path)
        if "failed" in r:
            rows.append(
                f"| {r['slos']} | {r['mode']} | {r.get('worker', 'sla worker')} "
                f"| failed: {r['failed'][:90]} |"
            )
            continue
        cpu, rss = r["cpu_percent"], r["rss_peak_mb"]
        per = r.get("cpu_ms_per_evaluation") or {
            k: round(10 * v * r["measure_seconds"] / r["evaluations"], 1) for k, v in cpu.items()
        }
        rows.append(
            f"| {r['slos']} | {r['mode']} | {r.get('worker', 'sla worker')} "
            f"| {r['evaluations_per_second']} ({r['on_schedule_rate']}) "
            f"| {r['staleness_p50_s']} / {r['staleness_p99_s']} / {r['staleness_max_s']} "
            f"| {cpu['worker']} / {rss['worker']} | {cpu['temporal']} / {rss['temporal']} "
            f"| {cpu['prometheus']} | {r['other_cpu_percent']} "
            f"| {per['worker']} / {per['temporal']} / {per['prometheus']} "
            f"| {_events(r.get('history_events_per_pass'))} |"
        )
    return "\n".join(rows)


def window_cost() -> str:
    path = RESULTS / "window-cost.json"
    if not path.exists():
        return "(no window-cost.json)"
    r = _load(path)
    rows = [
        "| windowDays | variant | requests/eval | wall ms/eval | Prometheus exec ms/eval "
        "| Prometheus CPU ms/eval | client CPU ms/eval |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in r["windows"]:
        for variant in ("incremental", "batched", "rebuild", "naive"):
            v = w[variant]
            rows.append(
                f"| {w['window_days']} | {variant} | {v['requests_per_eval']} | {v['wall_ms_mean']} "
                f"| {v['server_exec_ms']} | {v['prometheus_cpu_ms']} | {v['client_cpu_ms']} |"
            )
    rows.append("")
    rows.append("| variant | 90d / 7d wall | 90d / 7d Prometheus exec | 90d / 7d Prometheus CPU |")
    rows.append("|---|---|---|---|")
    for variant, ratios in r.get("ratio_90_over_7", {}).items():
        rows.append(
            f"| {variant} | {ratios.get('wall_ms_mean')} | {ratios.get('server_exec_ms')} "
            f"| {ratios.get('prometheus_cpu_ms')} |"
        )
    checks = [w["checks_failed_count"] for w in r["windows"]]
    rows.append(f"\nCorrectness checks failed: {sum(checks)}")
    return "\n".join(rows)


def slo_generator() -> str:
    path = RESULTS / "slo-generator-compare.json"
    if not path.exists():
        return "(no slo-generator-compare.json)"
    r = _load(path)
    rows = [
        "| evaluator | SLOs/s | client CPU ms/SLO | Prometheus CPU ms/SLO |",
        "|---|---|---|---|",
    ]
    for key in ("slo_generator_1_step", "slo_generator_8_steps"):
        v = r.get(key, {})
        if "failed" in v or not v:
            rows.append(f"| {key} | failed | | |")
            continue
        rows.append(
            f"| slo-generator {r['slo_generator_version']}, {v['steps']} step(s) | {v['slos_per_second']} "
            f"| {v['client_cpu_ms_per_slo']} | {v['prometheus_cpu_ms_per_slo']} |"
        )
    for key, v in r["ours"].items():
        rows.append(
            f"| ours: {key} | {v['slos_per_second']} | {v['client_cpu_ms_per_slo']} "
            f"| {v['prometheus_cpu_ms_per_slo']} |"
        )
    rows.append(
        f"\n30-day SLI, ours vs slo-generator: max |difference| {r['sli_30d_max_abs_difference']} "
        f"over {r['sli_30d_compared']} SLOs"
    )
    for key in ("speedup_vs_slo_generator_1_step", "speedup_vs_slo_generator_8_steps"):
        if key in r:
            rows.append(f"\n{key}: {r[key]}")
    return "\n".join(rows)


if __name__ == "__main__":
    print("## Loops\n")
    print(loops())
    print("\n## Window cost\n")
    print(window_cost())
    print("\n## slo-generator\n")
    print(slo_generator())
