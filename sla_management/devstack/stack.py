"""`sla dev`: the whole system on loopback, with the demo workload, stopped by one Ctrl-C.

Order matters: servers first (Temporal, PostgreSQL, Redis, Kafka, Alertmanager), then the demo
exporter, its 31-day backfill and Prometheus (blocks must exist before Prometheus opens the data
directory), then migrations, then the API and the worker, then the demo SLOs through the API.

A component whose environment variable is already set (`TEMPORAL__ADDRESS`, `POSTGRESQL__HOST`,
`REDIS__CLUSTER_NODES`, `KAFKA__BOOTSTRAP_SERVERS`, `PROMETHEUS__URL`, `ALERTMANAGER__URL`) is not
started: the variable is passed on as it is. A default port that is taken is replaced by a free
one (Debian's prometheus package, for one, runs a Prometheus on 9090 after installation).

Nothing the stack did not create is ever deleted: a PostgreSQL found running keeps its databases
as they are. Rows from an earlier run whose workflows are not in Temporal's history (a new
`temporal.db`) get their loops back from the worker, which starts every stored SLO's and
policy's workflow at start-up.

Once up, a crashed API or worker is restarted (see `supervision`); a backing server that exits
stops the stack.

Everything lives in `.devstack/`: logs, Temporal's SQLite file (workflow history survives
restarts), PostgreSQL's data when it had to be started, the dev admin and webhook tokens, `env`
for other shells, and `pids.json`, which lets the next run stop servers a killed run left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from sla_management.devstack import configs
from sla_management.devstack.databases import create_database, ensure_postgres, ensure_redis
from sla_management.devstack.leftovers import forget_pids, record_pids, stop_leftovers
from sla_management.devstack.processes import (
    LOOPBACK,
    Service,
    ServiceFailed,
    free_port,
    http_answers,
    port_is_open,
    spawn,
    wait_for_http,
)
from sla_management.devstack.servers import start_alertmanager, start_kafka, start_prometheus, start_temporal
from sla_management.devstack.supervision import Supervisor
from sla_management.devstack.workload import (
    backfill_history,
    create_demo_objects,
    demo_anchor,
    sla_command,
    start_exporter,
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

Echo = Callable[[str], None]


class StackInterrupted(Exception):
    """SIGTERM or SIGHUP arrived; unwinds like Ctrl-C so everything started gets stopped."""


@dataclass
class DevStack:
    workdir: Path
    echo: Echo = print
    # Everything started, in order; stopped in reverse.
    services: list[Service] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)
    supervisor: Supervisor = field(init=False)
    exporter_url: str = ""
    api_port: int = 0
    api_url: str = ""
    # Bearer token the stack uses for its own API calls (and prints for /docs' Authorize).
    token: str | None = None
    token_is_ours: bool = False

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.echo)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _keep(self, service: Service, label: str | None = None) -> Service:
        """A backing server: stopped with the stack, and its exit stops the stack."""
        self.services.append(service)
        self.supervisor.watch(service)
        record_pids(self.workdir, self.services)
        took = f" in {service.startup_seconds:.2f} s" if service.startup_seconds else ""
        self.echo(f"  {label or service.name:<13} {service.address}{took}")
        return service

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
        self._prepare_env()
        self._start_temporal()
        self._start_postgres()
        self._start_redis()
        self._start_kafka()
        self._start_alertmanager()
        self._start_metrics()
        configs.write_env_file(self.workdir / "env", self.env, api_url=self._api_url(), api_token=self.token)
        if services_only:
            self.echo(
                f"Backing services only: `source {self.workdir / 'env'}` and run `sla api`, `sla worker`."
            )
            return
        self._migrate()
        self._start_app()
        if demo_slos:
            self._create_demo_slos()

    def _prepare_env(self) -> None:
        """The environment of every child: ports chosen here, tokens, settings for a laptop."""
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
        admin = configs.admin_token(os.environ, self.workdir)
        self.token, self.token_is_ours = admin.token, admin.static_tokens is not None
        if admin.static_tokens is not None:
            self.env["AUTH__STATIC_TOKENS"] = admin.static_tokens
        webhook_token = configs.webhook_token(os.environ, self.workdir)
        if webhook_token is None:
            self.echo("  webhook auth  off (ALERTMANAGER__WEBHOOK_AUTH=none)")
        else:
            self.env["ALERTMANAGER__WEBHOOK_TOKEN"] = webhook_token
        if "KUBERNETES__ENABLED" not in os.environ:
            # No cluster on a laptop: freezes are still recorded, published and answered by the
            # gate; only the namespace annotations are skipped.
            self.env["KUBERNETES__ENABLED"] = "false"
            self.echo("  kubernetes    off (set KUBERNETES__ENABLED=true to annotate a cluster)")

    def _api_url(self) -> str:
        scheme = "https" if self.env.get("API__TLS_CERT_FILE") else "http"
        return f"{scheme}://{LOOPBACK}:{self.api_port}"

    def _start_temporal(self) -> None:
        if "TEMPORAL__ADDRESS" in os.environ:
            self.echo(f"  temporal      {os.environ['TEMPORAL__ADDRESS']} (TEMPORAL__ADDRESS)")
            return
        port = self._port("temporal")
        ui_port = self._port("temporal-ui")
        service = start_temporal(self.workdir, port, ui_port=ui_port, db_file=self.workdir / "temporal.db")
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
        # Created when missing, never dropped: the server may hold data this stack did not
        # write, and rows without a loop get one from the worker at start-up.
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
        token = self.env.get("ALERTMANAGER__WEBHOOK_TOKEN")
        if "ALERTMANAGER__URL" in os.environ:
            self.echo(f"  alertmanager  {os.environ['ALERTMANAGER__URL']} (ALERTMANAGER__URL)")
            if token and "ALERTMANAGER__WEBHOOK_TOKEN" not in os.environ:
                self.echo(
                    f"  (give its webhook receiver the bearer token in {self.workdir / 'webhook-token'})"
                )
            return
        webhook_path = os.environ.get("ALERTMANAGER__WEBHOOK_PATH", "/webhooks/alertmanager")
        webhook = f"{self._api_url()}{webhook_path}"
        config = configs.alertmanager_config(webhook, token)
        service = start_alertmanager(self.workdir, self._port("alertmanager"), config)
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
        anchor = demo_anchor(self.workdir)
        exporter_port = self._port("exporter")
        exporter = self._keep(start_exporter(self.workdir, exporter_port, anchor, self.env), "demo exporter")
        self.exporter_url = exporter.address
        self.links.append(("Demo exporter", f"{exporter.address}/metrics"))
        data = self.workdir / "prometheus-data"
        self.echo(f"  backfill      {backfill_history(data, anchor, exporter_port, self.workdir)}")
        alertmanager = self.env.get("ALERTMANAGER__URL", "").removeprefix("http://").removeprefix("https://")
        worker_metrics = f"{LOOPBACK}:{self.env.get('WORKER__METRICS_PORT', '9464')}"
        config = configs.prometheus_config(
            f"{LOOPBACK}:{exporter_port}",
            alertmanager or None,
            f"{LOOPBACK}:{self.api_port}",
            worker_metrics,
        )
        service = start_prometheus(self.workdir, self._port("prometheus"), config, data_dir=data)
        self._keep(service)
        self.env["PROMETHEUS__URL"] = service.address
        self.links.append(("Prometheus", service.address))

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

    # --- the API and the worker: restarted when they crash -------------------------------------

    def _spawn_app(self, name: str, replacing: Service | None = None) -> Service:
        """Start `sla api` or `sla worker`; in place of `replacing` in the stop order."""
        address = self._api_url() if name == "api" else self.env.get("TEMPORAL__ADDRESS", "")
        service = spawn(name, [*sla_command(), name], self.workdir, address=address, env=self.env)
        if replacing is not None and replacing in self.services:
            self.services[self.services.index(replacing)] = service
        else:
            self.services.append(service)
        record_pids(self.workdir, self.services)
        return service

    def _start_app(self) -> None:
        url = self._api_url()
        began = time.monotonic()
        api = self._spawn_app("api")
        worker = self._spawn_app("worker")
        wait_for_http(f"{url}/health", 90, service=api)
        if worker.proc is not None and worker.proc.poll() is not None:
            raise ServiceFailed(f"the worker exited with code {worker.proc.returncode}:\n{worker.log_tail()}")
        api.startup_seconds = time.monotonic() - began
        self.supervisor.keep_alive(api, self._respawn, ready=lambda: http_answers(f"{url}/health"))
        self.supervisor.keep_alive(worker, self._respawn)
        self.echo(f"  api           {url} in {api.startup_seconds:.1f} s")
        self.echo(f"  worker        task queue on {worker.address}")
        self.links.insert(0, ("API docs", f"{url}/docs"))
        self.api_url = url

    def _respawn(self, exited: Service) -> Service:
        return self._spawn_app(exited.name, replacing=exited)

    def _create_demo_slos(self) -> None:
        if self.token is None and "AUTH__STATIC_TOKENS" in os.environ:
            self.echo(
                "  (demo SLOs not created: AUTH__STATIC_TOKENS has no plaintext editor/admin "
                "token to create them with)"
            )
            return
        create_demo_objects(self.api_url, self.token, self.echo)

    # --- running and stopping ------------------------------------------------------------------

    def summary(self) -> str:
        width = max((len(label) for label, _ in self.links), default=0)
        lines = ["", "The dev stack is up:"]
        lines += [f"  {label:<{width}}  {url}" for label, url in self.links]
        if self.exporter_url:
            hint = "sla demo incident payments --error-rate 0.5 --minutes 20"
            if self.exporter_url != f"http://{LOOPBACK}:{PORTS['exporter']}":
                hint += f" --exporter-url {self.exporter_url}"
            lines += [
                "",
                f"Break something: `{hint}` (`sla demo calm payments` ends it).",
                "payments has about a quarter of its budget left; about ten minutes into such an",
                "incident it drops under 20 % and shop-freeze-policy freezes `shop`: see",
                "GET /api/v1/policies/freezes/active, or `sla gate --namespace shop` in this directory.",
            ]
        if self.token_is_ours:
            lines += ["", f"Dev admin token (Authorize in the API docs): {self.token}"]
        lines += [
            f"Environment for other shells: `source {self.workdir / 'env'}`.",
            "A crashed API or worker is restarted; Ctrl-C stops everything started here.",
        ]
        return "\n".join(lines)

    def wait(self, poll_seconds: float = 1.0) -> int:
        """Block until a signal (raises) or until a process the stack needs is gone (1)."""
        return self.supervisor.run(poll_seconds)

    def stop(self) -> None:
        for service in reversed(self.services):
            if service.running:
                self.echo(f"  stopping {service.name}")
            service.stop()
        self.services.clear()
        forget_pids(self.workdir)


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
