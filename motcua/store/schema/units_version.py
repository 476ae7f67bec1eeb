"""A token that changes whenever the organisation registry changes, so each process can cache its unit directory.

`units_version` holds one row (id 1) whose `token` database triggers renew on every INSERT, UPDATE or DELETE of
`units` or `unit_lineage` — whoever writes them (a reorganisation plan, the registry load of `motcua db setup`, a
manual fix in SQL); see `version_token`.

Readers (`motcua.services.runtime.Runtime.directory`) compare the token with the one their cached directory was
built under; the lifecycle's writes on PostgreSQL read it in the statement that writes the dossier
(`services/dossiers.py`, `_with_event_sql`), and an import's batch in its transaction, so a submission, an
action or an imported dossier checked against a directory that a reorganisation has since replaced never
commits (decision 0010).
"""

from __future__ import annotations

from motcua.store.schema.units import unit_lineage, units
from motcua.store.schema.version_token import version_token_table

units_version = version_token_table(
    "units_version", function="motcua_units_changed", watched=(units, unit_lineage)
)
