"""`sla dev`: the whole system on loopback, with the demo workload, stopped by one Ctrl-C.

Order matters: servers first (Temporal, PostgreSQL, Redis, Kafka, Alertmanager), then the demo
exporter, its 31-day backfill and Prometheus (blocks must exist before Prometheus opens the data
directory), then migrations, then the API and the worker, then the demo SLOs through the API.

A component whose environment variable is already set (`TEMPORAL__ADDRESS`, `POSTGRESQL__HOST`,
`REDIS__CLUSTER_NODES`, `KAFKA__BOOTSTRAP_SERVERS`, `PROMETHEUS__URL`, `ALERTMANAGER__URL`) is not
started: the variable is passed on as it is. A default port that is taken is replaced by a free
one (Debian's prometheus package, for one, runs a Prometheus on 9090 after installation).

Everything lives in `.devstack/`: logs, Temporal's SQLite file (workflow history survives
restarts), PostgreSQL's data when it had to be started, and `pids.json`, which lets the next run
stop servers a killed run left behind in their own sessions.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from sla_management.devstack.processes import (
    LOOPBACK,
    Service,
    ServiceFailed,
    create_database,
    drop_database,
    ensure_postgres,
    ensure_redis,
    free_port,
    port_is_open,
    spawn,
    start_alertmanager,
    start_kafka,
    start_prometheus,
    start_temporal,
    wait_for_http,
)

DEFAULT_WORKDIR = Path(".devstack")
PORTS = {
    "temporal": 7233,
    "temporal-ui": 8233,
    "postgres": 5432,
    "redis": 6379,
    "kafka": 9092,
    "alertmanager": 9093,
    "exporter": 9109,
    "prometheus": 9090,
    "api": 8000,
    "worker-metrics": 9464,
}
# The demo story is told from an anchor; restarts within this age keep it, so the SLO workflows'
# state in Temporal's persisted history stays consistent with the regenerated metrics.
ANCHOR_MAX_AGE_SECONDS = 24 * 3600
SCRAPE_INTERVAL = "15s"

Echo = Callable[[str], None]


def sla_command() -> list[str]:
    """How to run `sla` with this interpreter, installed or not."""
    script = Path(sys.executable).parent / "sla"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "sla_management.cli"]


def prometheus_config(exporter: str, alertmanager: str | None, api: str, worker: str) -> str:
    alerting = ""
    if alertmanager:
        alerting = (
            f'alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ["{alertmanager}"]\n'
        )
    # The system's own health alerts, when running from a checkout.
    rules = Path(__file__).resolve().parents[2] / "infra" / "prometheus" / "sla-management-system-rules.yaml"
    rule_files = f'rule_files: ["{rules}"]\n' if rules.is_file() else ""
    return (
        "global:\n"
        f"  scrape_interval: {SCRAPE_INTERVAL}\n"
        f"  evaluation_interval: {SCRAPE_INTERVAL}\n"
        f"{rule_files}"
        f"{alerting}"
        "scrape_configs:\n"
        # Job and instance must match the labels the backfill wrote.
        "  - job_name: demo\n"
        "    static_configs:\n"
        f'      - targets: ["{exporter}"]\n'
        "  - job_name: sla-api\n"
        "    static_configs:\n"
        f'      - targets: ["{api}"]\n'
        "  - job_name: sla-worker\n"
        "    static_configs:\n"
        f'      - targets: ["{worker}"]\n'
    )


def alertmanager_config(webhook_url: str, token: str | None = None) -> str:
    # The API demands this bearer token on its webhook when ALERTMANAGER__WEBHOOK_TOKEN is set.
    authorization = (
        f"        http_config:\n          authorization:\n            credentials: {json.dumps(token)}\n"
        if token
        else ""
    )
    return (
        "route:\n"
        "  receiver: sla-management\n"
        "  group_by: [alertname, slo]\n"
        "  group_wait: 10s\n"
        "  group_interval: 1m\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: sla-management\n"
        "    webhook_configs:\n"
        f'      - url: "{webhook_url}"\n'
        "        send_resolved: true\n"
        f"{authorization}"
    )


class StackInterrupted(Exception):
    """SIGTERM or SIGHUP arrived; unwinds like Ctrl-C so everything started gets stopped."""


@dataclass
class DevStack:
    workdir: Path
    echo: Echo = print
    services: list[Service] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)
    # Processes whose exit means the stack is broken (app processes and what we started).
    watched: list[Service] = field(default_factory=list)
    exporter_url: str = ""
    api_port: int = 0
    api_url: str = ""
    # Bearer token the stack uses for its own API calls (and prints for /docs' Authorize).
    token: str | None = None
    token_is_ours: bool = False
    # Set when this run starts Temporal on an empty history file.
    new_temporal_history: bool = False

    # --- bookkeeping ---------------------------------------------------------------------------

    def _keep(self, service: Service, label: str | None = None) -> Service:
        self.services.append(service)
        self.watched.append(service)
        self._record_pids()
        took = f" in {service.startup_seconds:.2f} s" if service.startup_seconds else ""
        self.echo(f"  {label or service.name:<13} {service.address}{took}")
        return service

    def _record_pids(self) -> None:
        entries = [
            {
                "name": service.name,
                "pid": service.proc.pid,
                "started": _create_time(service.proc.pid),
                "signal": service.stop_signal.name,
            }
            for service in self.services
            if service.proc is not None
        ]
        (self.workdir / "pids.json").write_text(json.dumps(entries, indent=1))

    def _port(self, name: str) -> int:
        preferred = PORTS[name]
        if not port_is_open(LOOPBACK, preferred):
            return preferred
        port = free_port()
        self.echo(f"  ({name}: port {preferred} is taken, using {port})")
        return port

    # --- start ---------------------------------------------------------------------------------

    def start(self, *, services_only: bool = False, demo_slos: bool = True) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.echo(f"Starting the dev stack in {self.workdir}/ (logs: {self.workdir}/*.log)")
        stop_leftovers(self.workdir, self.echo)
        self.env = dict(os.environ)
        if sla_command()[0] == sys.executable:
            # Not installed: children run from the workdir, so point them at the source tree.
            root = str(Path(__file__).resolve().parents[2])
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, self.env.get("PYTHONPATH"))))
        # Chosen first: Alertmanager's webhook and Prometheus's scrape config point at them.
        if "API__PORT" in os.environ:
            self.api_port = int(os.environ["API__PORT"])
        else:
            self.api_port = self._port("api")
            self.env |= {"API__HOST": LOOPBACK, "API__PORT": str(self.api_port)}
        if "WORKER__METRICS_PORT" not in os.environ:
            self.env["WORKER__METRICS_PORT"] = str(self._port("worker-metrics"))
        self._set_up_auth()
        if "KUBERNETES__ENABLED" not in os.environ:
            # No cluster on a laptop: freezes are still recorded, published and answered by the
            # gate; only the namespace annotations are skipped.
            self.env["KUBERNETES__ENABLED"] = "false"
            self.echo("  kubernetes    off (set KUBERNETES__ENABLED=true to annotate a cluster)")
        self._start_temporal()
        self._start_postgres()
        self._start_redis()
        self._start_kafka()
        self._start_alertmanager()
        self._start_metrics()
        self._write_env_file()
        if services_only:
            self.echo(
                f"Backing services only: `source {self.workdir / 'env'}` and run `sla api`, `sla worker`."
            )
            return
        self._migrate()
        self._start_app()
        if demo_slos:
            self._create_demo_slos()

    def _set_up_auth(self) -> None:
        """A dev admin token, kept across restarts so a browser's Authorize stays valid, unless
        AUTH__STATIC_TOKENS brings its own (then its first editor/admin plaintext token is used)."""
        if os.environ.get("AUTH__ENABLED", "true").strip().lower() in {"false", "0", "no", "off"}:
            return
        if "AUTH__STATIC_TOKENS" in os.environ:
            try:
                entries = json.loads(os.environ["AUTH__STATIC_TOKENS"])
            except ValueError:
                entries = []
            for entry in entries if isinstance(entries, list) else []:
                usable = isinstance(entry, dict) and entry.get("role") in {"editor", "admin"}
                if usable and entry.get("token"):
                    self.token = str(entry["token"])
                    return
            return
        path = self.workdir / "dev-token"
        token = path.read_text().strip() if path.exists() else ""
        if not token:
            token = secrets.token_urlsafe(24)
            path.write_text(token + "\n")
            path.chmod(0o600)
        self.env["AUTH__STATIC_TOKENS"] = json.dumps([{"name": "dev-admin", "role": "admin", "token": token}])
        self.token, self.token_is_ours = token, True

    def _start_temporal(self) -> None:
        if "TEMPORAL__ADDRESS" in os.environ:
            self.echo(f"  temporal      {os.environ['TEMPORAL__ADDRESS']} (TEMPORAL__ADDRESS)")
            return
        port = self._port("temporal")
        ui_port = self._port("temporal-ui")
        db_file = self.workdir / "temporal.db"
        self.new_temporal_history = not db_file.exists()
        service = start_temporal(self.workdir, port, ui_port=ui_port, db_file=db_file)
        self._keep(service)
        self.env["TEMPORAL__ADDRESS"] = service.address
        self.links.append(("Temporal UI", f"http://{LOOPBACK}:{ui_port}"))

    def _start_postgres(self) -> None:
        if "POSTGRESQL__HOST" in os.environ:
            host = os.environ["POSTGRESQL__HOST"]
            port = int(os.environ.get("POSTGRESQL__PORT", "5432"))
            self.echo(f"  postgres      {host}:{port} (POSTGRESQL__HOST)")
        else:
            host, port = LOOPBACK, int(os.environ.get("POSTGRESQL__PORT", PORTS["postgres"]))
            service = ensure_postgres(self.workdir, host, port)
            if service is None:
                self.echo(f"  postgres      {host}:{port} (already running, used as is)")
            else:
                self._keep(service, "postgres (embedded)")
            self.env |= {"POSTGRESQL__HOST": host, "POSTGRESQL__PORT": str(port)}
            self.env.setdefault("POSTGRESQL__USER", "postgres")
        database = self.env.setdefault("POSTGRESQL__DATABASE", "sla_management")
        ours = not {"POSTGRESQL__HOST", "POSTGRESQL__DATABASE"} & os.environ.keys()
        if self.new_temporal_history and ours:
            # Every SLO and policy row has a workflow in Temporal; with a new (empty) Temporal
            # history, rows left from an earlier stack would have none and never be evaluated.
            drop_database(host, port, self.env.get("POSTGRESQL__USER", "postgres"), database)
            self.echo(f"  (new Temporal history: database {database!r} recreated to match)")
        try:
            create_database(
                host,
                port,
                self.env.get("POSTGRESQL__USER", "postgres"),
                database,
                password=self.env.get("POSTGRESQL__PASSWORD"),
            )
        except Exception as exc:
            # A server given by the environment may not let us create databases; migrations
            # will say clearly whether the database is usable.
            self.echo(f"  (could not create database {database!r}: {exc})")

    def _start_redis(self) -> None:
        if "REDIS__CLUSTER_NODES" in os.environ:
            self.echo(f"  redis         {os.environ['REDIS__CLUSTER_NODES']} (REDIS__CLUSTER_NODES)")
            return
        port = PORTS["redis"]
        service = ensure_redis(self.workdir, port)
        if service is None:
            self.echo(f"  redis         {LOOPBACK}:{port} (already running, used as is)")
        else:
            self._keep(service)
        self.env["REDIS__CLUSTER_NODES"] = f"{LOOPBACK}:{port}"

    def _start_kafka(self) -> None:
        if "KAFKA__BOOTSTRAP_SERVERS" in os.environ:
            self.echo(f"  kafka         {os.environ['KAFKA__BOOTSTRAP_SERVERS']} (KAFKA__BOOTSTRAP_SERVERS)")
            return
        service = start_kafka(self.workdir, self._port("kafka"))
        self._keep(service, "kafka (tansu)")
        self.env["KAFKA__BOOTSTRAP_SERVERS"] = service.address

    def _start_alertmanager(self) -> None:
        if "ALERTMANAGER__URL" in os.environ:
            self.echo(f"  alertmanager  {os.environ['ALERTMANAGER__URL']} (ALERTMANAGER__URL)")
            return
        webhook_path = os.environ.get("ALERTMANAGER__WEBHOOK_PATH", "/webhooks/alertmanager")
        webhook = f"http://{LOOPBACK}:{self.api_port}{webhook_path}"
        service = start_alertmanager(
            self.workdir,
            self._port("alertmanager"),
            alertmanager_config(webhook, os.environ.get("ALERTMANAGER__WEBHOOK_TOKEN")),
        )
        self._keep(service)
        self.env["ALERTMANAGER__URL"] = service.address
        self.links.append(("Alertmanager", service.address))

    def _start_metrics(self) -> None:
        if "PROMETHEUS__URL" in os.environ:
            self.echo(
                f"  prometheus    {os.environ['PROMETHEUS__URL']} (PROMETHEUS__URL; no demo "
                "exporter or backfill: the demo SLOs will find no data there)"
            )
            return
        from sla_management.demo.backfill import backfill

        anchor = demo_anchor(self.workdir)
        exporter_port = self._port("exporter")
        exporter = spawn(
            "exporter",
            [*sla_command(), "demo", "exporter", "--port", str(exporter_port), "--anchor", str(anchor)],
            self.workdir,
            address=f"http://{LOOPBACK}:{exporter_port}",
            env=self.env,
        )
        began = time.monotonic()
        wait_for_http(f"{exporter.address}/metrics", 30, service=exporter)
        exporter.startup_seconds = time.monotonic() - began
        self._keep(exporter, "demo exporter")
        self.exporter_url = exporter.address
        self.links.append(("Demo exporter", f"{exporter.address}/metrics"))

        data = self.workdir / "prometheus-data"
        # Regenerated on every start: the exporter forgot its incidents when it stopped, and
        # old live samples next to a fresh backfill would make counters jump back and forth.
        shutil.rmtree(data, ignore_errors=True)
        report = backfill(
            data, anchor=anchor, instance=f"{LOOPBACK}:{exporter_port}", scratch_dir=self.workdir
        )
        self.echo(
            f"  backfill      {report.samples:,} samples, 31 days, in "
            f"{report.write_seconds + report.promtool_seconds:.1f} s "
            f"(file {report.write_seconds:.1f} s, promtool {report.promtool_seconds:.1f} s)"
        )
        alertmanager = self.env.get("ALERTMANAGER__URL", "").removeprefix("http://").removeprefix("https://")
        worker_metrics = f"{LOOPBACK}:{self.env.get('WORKER__METRICS_PORT', '9464')}"
        config = prometheus_config(
            f"{LOOPBACK}:{exporter_port}",
            alertmanager or None,
            f"{LOOPBACK}:{self.api_port}",
            worker_metrics,
        )
        service = start_prometheus(self.workdir, self._port("prometheus"), config, data_dir=data)
        self._keep(service)
        self.env["PROMETHEUS__URL"] = service.address
        self.links.append(("Prometheus", service.address))

    def _write_env_file(self) -> None:
        names = sorted(
            key
            for key in self.env
            if key.split("__")[0]
            in {
                "TEMPORAL",
                "POSTGRESQL",
                "REDIS",
                "KAFKA",
                "PROMETHEUS",
                "ALERTMANAGER",
                "API",
                "AUTH",
                "WORKER",
                "KUBERNETES",
            }
            and "__" in key
        )
        lines = [f"export {key}={shlex.quote(self.env[key])}" for key in names]
        if self.token:
            # What `sla gate` sends as its bearer token.
            lines.append(f"export SLA_API_TOKEN={shlex.quote(self.token)}")
        (self.workdir / "env").write_text("\n".join(lines) + "\n")

    def _migrate(self) -> None:
        log = self.workdir / "migrate.log"
        began = time.monotonic()
        with log.open("ab") as out:
            done = subprocess.run(
                [*sla_command(), "migrate"], env=self.env, stdout=out, stderr=subprocess.STDOUT, check=False
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise ServiceFailed(f"`sla migrate` failed (exit {done.returncode}); {log}:\n{tail}")
        self.echo(f"  migrations    applied in {time.monotonic() - began:.1f} s")

    def _start_app(self) -> None:
        url = f"http://{LOOPBACK}:{self.api_port}"
        began = time.monotonic()
        api = spawn("api", [*sla_command(), "api"], self.workdir, address=url, env=self.env)
        self.services.append(api)
        worker = spawn(
            "worker",
            [*sla_command(), "worker"],
            self.workdir,
            address=self.env.get("TEMPORAL__ADDRESS", ""),
            env=self.env,
        )
        self.services.append(worker)
        self._record_pids()
        wait_for_http(f"{url}/health", 90, service=api)
        if worker.proc is not None and worker.proc.poll() is not None:
            raise ServiceFailed(f"the worker exited with code {worker.proc.returncode}:\n{worker.log_tail()}")
        api.startup_seconds = time.monotonic() - began
        self.watched += [api, worker]
        self.echo(f"  api           {url} in {api.startup_seconds:.1f} s")
        self.echo(f"  worker        task queue on {worker.address}")
        self.links.insert(0, ("API docs", f"{url}/docs"))
        self.api_url = url

    def _create_demo_slos(self) -> None:
        from sla_management.demo.scenario import demo_policies, demo_slos

        if self.token is None and "AUTH__STATIC_TOKENS" in os.environ:
            self.echo(
                "  (demo SLOs not created: AUTH__STATIC_TOKENS has no plaintext editor/admin "
                "token to create them with)"
            )
            return
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with httpx.Client(base_url=self.api_url, trust_env=False, timeout=30, headers=headers) as client:
            self._post_all(client, "/api/v1/slos", demo_slos(), "demo SLOs")
            self._post_all(client, "/api/v1/policies", demo_policies(), "policies")

    def _post_all(self, client: httpx.Client, path: str, bodies: list[dict[str, object]], what: str) -> None:
        """POST each body; 409 means it is there from an earlier run, which is fine."""
        created, existing = [], []
        for body in bodies:
            name = str(body["name"])
            response = client.post(path, json=body)
            if response.status_code in (200, 201):
                created.append(name)
            elif response.status_code == 409:
                existing.append(name)
            else:
                self.echo(f"  ({what} {name}: HTTP {response.status_code} {response.text[:300]})")
        if created:
            self.echo(f"  {what:<13} created: {', '.join(created)}")
        if existing:
            self.echo(f"  {what:<13} already there: {', '.join(existing)}")

    # --- running and stopping ------------------------------------------------------------------

    def summary(self) -> str:
        width = max((len(label) for label, _ in self.links), default=0)
        lines = ["", "The dev stack is up:"]
        lines += [f"  {label:<{width}}  {url}" for label, url in self.links]
        if self.exporter_url:
            hint = "sla demo incident payments"
            if self.exporter_url != f"http://{LOOPBACK}:{PORTS['exporter']}":
                hint += f" --exporter-url {self.exporter_url}"
            lines += [
                "",
                f"Break something: `{hint}` (30 % errors for 15 min; `sla demo calm payments` ends it).",
                "payments has spent about three quarters of its budget; about ten minutes into",
                "such an incident it drops under 20 % left and shop-freeze-policy freezes `shop`",
                "(GET /api/v1/policies/freezes/active).",
            ]
        if self.token_is_ours:
            lines += ["", f"Dev admin token (Authorize in the API docs): {self.token}"]
        lines += [
            f"Environment for other shells: `source {self.workdir / 'env'}`.",
            "Ctrl-C stops everything started here.",
        ]
        return "\n".join(lines)

    def wait(self, poll_seconds: float = 1.0) -> int:
        """Block until a signal (0) or until a watched process exits on its own (1)."""
        while True:
            for service in self.watched:
                if service.proc is not None and service.proc.poll() is not None:
                    self.echo(
                        f"\n{service.name} exited with code {service.proc.returncode}; "
                        f"last lines of {service.log_path}:\n{service.log_tail(30)}"
                    )
                    return 1
            time.sleep(poll_seconds)

    def stop(self) -> None:
        for service in reversed(self.services):
            if service.running:
                self.echo(f"  stopping {service.name}")
            service.stop()
        self.services.clear()
        (self.workdir / "pids.json").unlink(missing_ok=True)


def _create_time(pid: int) -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def stop_leftovers(workdir: Path, echo: Echo) -> None:
    """Stop servers a previous run left running (it was killed before it could stop them).

    A pid is trusted only if its process start time matches the one recorded, so a reused pid
    is never signalled.
    """
    record = workdir / "pids.json"
    if not record.exists():
        return
    try:
        entries = json.loads(record.read_text())
    except ValueError:
        entries = []
    for entry in reversed(entries):
        pid, started = entry.get("pid"), entry.get("started")
        if not isinstance(pid, int) or started is None or _create_time(pid) != started:
            continue
        echo(f"  stopping {entry.get('name')} (pid {pid}) left over from a previous run")
        with_grace = time.monotonic() + 10
        try:
            stop_signal = signal.Signals[str(entry.get("signal"))]
        except KeyError:
            stop_signal = signal.SIGTERM
        _killpg(pid, stop_signal)
        while _create_time(pid) == started and time.monotonic() < with_grace:
            time.sleep(0.2)
        _killpg(pid, signal.SIGKILL)
    record.unlink(missing_ok=True)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def demo_anchor(workdir: Path, now: float | None = None) -> float:
    """The moment the demo story is told from: kept for a day across restarts, on the minute."""
    current = time.time() if now is None else now
    path = workdir / "demo-anchor"
    try:
        anchor = float(path.read_text().strip())
    except (OSError, ValueError):
        anchor = 0.0
    if not 0 < current - anchor < ANCHOR_MAX_AGE_SECONDS:
        anchor = float(int(current // 60) * 60)
        path.write_text(f"{anchor:.0f}\n")
    return anchor


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise StackInterrupted(signal.Signals(signum).name)


def run_dev(
    workdir: Path = DEFAULT_WORKDIR,
    *,
    fresh: bool = False,
    services_only: bool = False,
    demo_slos: bool = True,
    echo: Echo = print,
) -> int:
    """Start the stack, wait, stop it; the exit code for the CLI."""
    if fresh and workdir.exists():
        stop_leftovers(workdir, echo)
        shutil.rmtree(workdir)
    # SIGINT explicitly too: a shell starting us in the background hands it down ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupted)
    stack = DevStack(workdir.resolve(), echo=echo)
    code = 0
    try:
        stack.start(services_only=services_only, demo_slos=demo_slos)
        echo(stack.summary())
        code = stack.wait()
    except (KeyboardInterrupt, StackInterrupted):
        echo("\nStopping the dev stack (each server gets up to 10 s)...")
    except (ServiceFailed, TimeoutError, RuntimeError, FileNotFoundError) as exc:
        echo(f"\nThe dev stack could not start: {exc}")
        code = 1
    finally:
        # A second Ctrl-C must not leave half the servers running in their own sessions.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        stack.stop()
    echo("Stopped.")
    return code
