"""Append-only audit log of every mutation and freeze decision.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE audit_log (
            id             bigserial PRIMARY KEY,
            at             timestamptz NOT NULL DEFAULT now(),
            actor          text NOT NULL,
            role           text NOT NULL,
            action         text NOT NULL,
            resource_type  text NOT NULL,
            resource_id    text NOT NULL,
            before         jsonb,
            after          jsonb,
            request_id     text
        );
        CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id, at);
        CREATE INDEX audit_log_at ON audit_log (at);

        -- Append-only in the database itself, not only by convention in the code.
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only';
        END $$;
        CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE audit_log; DROP FUNCTION audit_log_append_only();")
