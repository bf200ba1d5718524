"""What the dev stack writes for others to read: server configs, tokens, `<workdir>/env`.

Tokens are kept in the workdir (mode 0600) across restarts, so a browser's Authorize and the
Alertmanager config stay valid; a token given in the environment always wins over a kept one.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SCRAPE_INTERVAL = "15s"
# Settings of these sections are written to `<workdir>/env` for other shells.
ENV_SECTIONS = frozenset(
    {
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
)
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


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
    # The API demands this bearer token on its webhook (ALERTMANAGER__WEBHOOK_TOKEN).
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


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: created 0600, so a token is never readable by
    others even for a moment, and tightened if an older copy was wider."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def kept_token(path: Path) -> str:
    """The token kept in `path`, or a new random one written there."""
    token = path.read_text().strip() if path.exists() else ""
    if not token:
        token = secrets.token_urlsafe(24)
        write_private(path, token + "\n")
    return token


@dataclass(frozen=True)
class AdminToken:
    """The bearer token the stack uses for its own API calls (and prints for /docs)."""

    token: str | None
    # Set when the stack made the token (then it also sets AUTH__STATIC_TOKENS for the API).
    static_tokens: str | None = None


def admin_token(environ: Mapping[str, str], workdir: Path) -> AdminToken:
    """A dev admin token kept in `<workdir>/dev-token`, unless auth is off or AUTH__STATIC_TOKENS
    brings its own (then its first editor/admin plaintext token is used)."""
    if environ.get("AUTH__ENABLED", "true").strip().lower() in FALSE_WORDS:
        return AdminToken(None)
    if "AUTH__STATIC_TOKENS" in environ:
        try:
            entries = json.loads(environ["AUTH__STATIC_TOKENS"])
        except ValueError:
            entries = []
        for entry in entries if isinstance(entries, list) else []:
            usable = isinstance(entry, dict) and entry.get("role") in {"editor", "admin"}
            if usable and entry.get("token"):
                return AdminToken(str(entry["token"]))
        return AdminToken(None)
    token = kept_token(workdir / "dev-token")
    return AdminToken(token, json.dumps([{"name": "dev-admin", "role": "admin", "token": token}]))


def webhook_token(environ: Mapping[str, str], workdir: Path) -> str | None:
    """The bearer token Alertmanager sends and the API demands on its webhook: the one in
    ALERTMANAGER__WEBHOOK_TOKEN, else one kept in `<workdir>/webhook-token`; None when
    ALERTMANAGER__WEBHOOK_AUTH=none turns the check off."""
    if environ.get("ALERTMANAGER__WEBHOOK_AUTH", "").strip() == "none":
        return None
    given = environ.get("ALERTMANAGER__WEBHOOK_TOKEN", "").strip()
    return given or kept_token(workdir / "webhook-token")


def write_env_file(path: Path, env: Mapping[str, str], *, api_url: str, api_token: str | None) -> None:
    """`export` lines for another shell (`source <workdir>/env`), and for `sla gate`, which reads
    the file by itself when run where the stack runs. Private: it holds the tokens."""
    names = sorted(key for key in env if "__" in key and key.split("__")[0] in ENV_SECTIONS)
    lines = [f"export {key}={shlex.quote(env[key])}" for key in names]
    # What `sla gate` asks and the bearer token it sends.
    lines.append(f"export SLA_API_URL={shlex.quote(api_url)}")
    if api_token:
        lines.append(f"export SLA_API_TOKEN={shlex.quote(api_token)}")
    write_private(path, "\n".join(lines) + "\n")


def read_env_file(path: Path) -> dict[str, str]:
    """The variables a `write_env_file` file exports ({} when there is none or it is unreadable)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            found[key] = value
    return found
