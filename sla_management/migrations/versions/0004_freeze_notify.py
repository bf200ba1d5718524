"""Tell listeners when freeze_events changes, so processes can keep the active freezes in
memory (the deploy gate) without polling.

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    # Per statement, with an empty payload: listeners reload the whole (small) active set, and
    # PostgreSQL folds identical notifications of one transaction into one, sent at commit.
    op.execute(
        """
        CREATE FUNCTION freeze_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('freeze_events', '');
            RETURN NULL;
        END $$;
        CREATE TRIGGER freeze_events_changed
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON freeze_events
            FOR EACH STATEMENT EXECUTE FUNCTION freeze_events_notify();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER freeze_events_changed ON freeze_events; DROP FUNCTION freeze_events_notify();")
