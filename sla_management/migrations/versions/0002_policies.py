"""Freeze policies, freeze events, SLO violations from Alertmanager.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE policies (
            id          text PRIMARY KEY,
            name        text NOT NULL UNIQUE,
            scope       text NOT NULL,
            target      text NOT NULL DEFAULT '',
            spec        jsonb NOT NULL,
            managed_by  text NOT NULL DEFAULT 'api',
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE freeze_events (
            id            uuid PRIMARY KEY,
            policy_id     text NOT NULL,
            policy_name   text NOT NULL,
            scope         text NOT NULL,
            target        text NOT NULL,
            namespaces    text[] NOT NULL DEFAULT '{}',
            blocks        boolean NOT NULL,
            triggering    jsonb NOT NULL,
            reason        text NOT NULL,
            activated_at  timestamptz NOT NULL,
            resolved_at   timestamptz,
            resolved_by   text,
            resolution    text
        );
        -- One writer per policy is the workflow; the database refuses a second open freeze too.
        CREATE UNIQUE INDEX freeze_events_one_open ON freeze_events (policy_id) WHERE resolved_at IS NULL;
        CREATE INDEX freeze_events_time ON freeze_events (activated_at);

        CREATE TABLE slo_violations (
            id           uuid PRIMARY KEY,
            slo_id       text NOT NULL,
            alertname    text NOT NULL,
            status       text NOT NULL,
            fingerprint  text NOT NULL,
            starts_at    timestamptz,
            ends_at      timestamptz,
            labels       jsonb NOT NULL,
            annotations  jsonb NOT NULL,
            received_at  timestamptz NOT NULL DEFAULT now(),
            -- Alertmanager repeats notifications: one row per alert occurrence and status.
            UNIQUE (fingerprint, starts_at, status)
        );
        CREATE INDEX slo_violations_slo ON slo_violations (slo_id, received_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE slo_violations; DROP TABLE freeze_events; DROP TABLE policies;")
