"""SLO names (per namespace) and policy names are unique ignoring case, as the API now checks.

Names are trimmed first, as the API now trims them. When stored names already clash once case
is ignored, the upgrade stops and lists them: which one to rename is the owner's call.

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.execute(
        """
        UPDATE slos SET name = btrim(name), spec = jsonb_set(spec, '{name}', to_jsonb(btrim(name)))
        WHERE name <> btrim(name);
        UPDATE slos SET service_name = btrim(service_name),
                        spec = jsonb_set(spec, '{serviceName}', to_jsonb(btrim(service_name)))
        WHERE service_name <> btrim(service_name);
        UPDATE policies SET name = btrim(name), spec = jsonb_set(spec, '{name}', to_jsonb(btrim(name)))
        WHERE name <> btrim(name);

        DO $$
        DECLARE clashes text;
        BEGIN
            SELECT string_agg(format('%s in namespace %s', names, namespace), '; ') INTO clashes
            FROM (SELECT namespace, string_agg(quote_literal(name), ', ' ORDER BY name) AS names
                  FROM slos GROUP BY namespace, lower(name) HAVING count(*) > 1) AS c;
            IF clashes IS NOT NULL THEN
                RAISE EXCEPTION 'SLO names that differ only in case: %. Rename or delete all but one '
                    'of each, then upgrade again.', clashes;
            END IF;
            SELECT string_agg(names, '; ') INTO clashes
            FROM (SELECT string_agg(quote_literal(name), ', ' ORDER BY name) AS names
                  FROM policies GROUP BY lower(name) HAVING count(*) > 1) AS c;
            IF clashes IS NOT NULL THEN
                RAISE EXCEPTION 'policy names that differ only in case: %. Rename or delete all but '
                    'one of each, then upgrade again.', clashes;
            END IF;
        END $$;

        ALTER TABLE slos DROP CONSTRAINT slos_namespace_name_key;
        CREATE UNIQUE INDEX slos_namespace_name_ci ON slos (namespace, lower(name));
        ALTER TABLE policies DROP CONSTRAINT policies_name_key;
        CREATE UNIQUE INDEX policies_name_ci ON policies (lower(name));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX policies_name_ci;
        ALTER TABLE policies ADD CONSTRAINT policies_name_key UNIQUE (name);
        DROP INDEX slos_namespace_name_ci;
        ALTER TABLE slos ADD CONSTRAINT slos_namespace_name_key UNIQUE (namespace, name);
        """
    )
