"""Freeze exceptions, the notification outbox, and break-glass uses.

Revision ID: 0006
"""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE freeze_exceptions (
            id          uuid PRIMARY KEY,
            namespace   text NOT NULL,
            service     text,
            reason      text NOT NULL,
            ticket      text,
            granted_by  text NOT NULL,
            granted_at  timestamptz NOT NULL,
            expires_at  timestamptz NOT NULL,
            policy_id   text NOT NULL,
            freeze_id   uuid NOT NULL,
            ended_at    timestamptz,
            ended_by    text,
            ending      text,
            deploys     integer NOT NULL DEFAULT 0
        );
        CREATE INDEX freeze_exceptions_open ON freeze_exceptions (namespace) WHERE ended_at IS NULL;
        -- The gate keeps exceptions in memory beside the active freezes: same channel, same reload.
        CREATE TRIGGER freeze_exceptions_changed
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON freeze_exceptions
            FOR EACH STATEMENT EXECUTE FUNCTION freeze_events_notify();

        -- The notification outbox: written with the event it tells of, delivered by the worker
        -- with retries; `id` is the event id receivers deduplicate on.
        CREATE TABLE notifications (
            id               uuid PRIMARY KEY,
            kind             text NOT NULL,
            policy_id        text NOT NULL,
            channel          text NOT NULL,
            target           jsonb NOT NULL,
            notice           jsonb NOT NULL,
            status           text NOT NULL DEFAULT 'pending',
            attempts         integer NOT NULL DEFAULT 0,
            next_attempt_at  timestamptz NOT NULL DEFAULT now(),
            claimed_until    timestamptz,
            last_error       text,
            created_at       timestamptz NOT NULL DEFAULT now(),
            delivered_at     timestamptz
        );
        CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';

        -- One row per workload, override text and freeze: what the operator saw deployed through
        -- a freeze with neural-hive.io/freeze-override.
        CREATE TABLE break_glass_uses (
            object_uid  text NOT NULL,
            override    text NOT NULL,
            freeze_id   uuid NOT NULL,
            kind        text NOT NULL,
            namespace   text NOT NULL,
            name        text NOT NULL,
            seen_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (object_uid, override, freeze_id)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE break_glass_uses; DROP TABLE notifications;"
        " DROP TRIGGER freeze_exceptions_changed ON freeze_exceptions; DROP TABLE freeze_exceptions;"
    )
