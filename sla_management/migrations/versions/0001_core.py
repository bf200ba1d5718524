"""Core tables: SLO definitions, current budgets, budget history, event outbox.

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE slos (
            id            text PRIMARY KEY,
            name          text NOT NULL,
            namespace     text NOT NULL,
            service_name  text NOT NULL,
            layer         text,
            slo_type      text NOT NULL,
            spec          jsonb NOT NULL,
            query_units   jsonb NOT NULL DEFAULT '{}',
            managed_by    text NOT NULL DEFAULT 'api',
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            UNIQUE (namespace, name)
        );
        CREATE INDEX slos_service ON slos (service_name);

        -- The latest budget of each SLO; the API reads it when Redis has no copy.
        CREATE TABLE budgets_current (
            slo_id            text PRIMARY KEY REFERENCES slos (id) ON DELETE CASCADE,
            status            text NOT NULL,
            burn_level        text NOT NULL,
            remaining_percent double precision,
            calculated_at     timestamptz NOT NULL,
            budget            jsonb NOT NULL
        );

        -- History outlives its SLO on purpose: it is the record of why a freeze happened.
        CREATE TABLE budget_history (
            event_id          uuid PRIMARY KEY,
            slo_id            text NOT NULL,
            calculated_at     timestamptz NOT NULL,
            status            text NOT NULL,
            burn_level        text NOT NULL,
            remaining_percent double precision,
            consumed_percent  double precision,
            sli               double precision,
            budget            jsonb NOT NULL
        );
        CREATE INDEX budget_history_slo_time ON budget_history (slo_id, calculated_at);

        -- Transactional outbox: an event is written with the state it describes and relayed to
        -- Kafka afterwards, so a broker outage delays events but never drops them.
        CREATE TABLE event_outbox (
            event_id      uuid PRIMARY KEY,
            topic         text NOT NULL,
            key           text,
            headers       jsonb NOT NULL DEFAULT '{}',
            payload       jsonb NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            published_at  timestamptz,
            attempts      integer NOT NULL DEFAULT 0,
            last_error    text
        );
        CREATE INDEX event_outbox_pending ON event_outbox (created_at) WHERE published_at IS NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE event_outbox; DROP TABLE budget_history; DROP TABLE budgets_current; DROP TABLE slos;"
    )
