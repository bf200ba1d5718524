"""Where a policy's notifications go: Slack incoming webhooks and generic signed webhooks.

Secrets are never part of a definition: a target names where the secret is (an environment
variable of the worker, or a key of a Kubernetes Secret in the worker's namespace) and the
worker reads it when it delivers. So the API, the logs and the audit trail only ever show the
reference.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from sla_management.domain.slo import CamelModel

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# DNS-1123 subdomain (a Secret's name) and a data key.
_SECRET_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
_SECRET_KEY = r"^[-._a-zA-Z0-9]+$"


class SecretKeyRef(CamelModel):
    name: Annotated[str, Field(min_length=1, max_length=253, pattern=_SECRET_NAME)]
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=_SECRET_KEY)]


class SecretRef(CamelModel):
    """Exactly one of: `env` (a variable of the worker's environment) or `secretKeyRef`."""

    env: Annotated[str | None, Field(max_length=128)] = None
    secret_key_ref: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.env is None) == (self.secret_key_ref is None):
            raise ValueError("give exactly one of env or secretKeyRef")
        if self.env is not None and not _ENV_NAME.match(self.env):
            raise ValueError("env must be an environment variable name")
        return self

    def describe(self) -> str:
        if self.env is not None:
            return f"env {self.env}"
        assert self.secret_key_ref is not None
        return f"secret {self.secret_key_ref.name}/{self.secret_key_ref.key}"


class Channel(StrEnum):
    SLACK = "slack"
    WEBHOOK = "webhook"


class NotifyTarget(CamelModel):
    """`slack`: `urlSecret` holds the incoming-webhook URL (the URL is the credential).
    `webhook`: `url` (or `urlSecret`) receives a JSON body signed with `secret`
    (`X-SLA-Signature: sha256=<hex HMAC>`)."""

    type: Channel
    url: Annotated[str | None, Field(max_length=2048, pattern=r"^https?://")] = None
    url_secret: SecretRef | None = None
    secret: SecretRef | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.url is not None and self.url_secret is not None:
            raise ValueError("give url or urlSecret, not both")
        if self.type is Channel.SLACK:
            if self.url_secret is None:
                raise ValueError("a slack target needs urlSecret: its webhook URL is a credential")
            if self.secret is not None:
                raise ValueError("a slack target takes no secret (Slack does not verify signatures)")
        else:
            if self.url is None and self.url_secret is None:
                raise ValueError("a webhook target needs url or urlSecret")
            if self.secret is None:
                raise ValueError("a webhook target needs secret: receivers verify the signature with it")
        return self

    def describe(self) -> str:
        where = self.url if self.url is not None else (self.url_secret.describe() if self.url_secret else "?")
        return f"{self.type.value} {where}"
