"""A token that changes whenever the procedure catalog changes, so each process can cache what it reads of it.

`catalog_version` holds one row (id 1) whose `token` database triggers renew on every INSERT, UPDATE or DELETE of
`procedures` or `city_procedures` — whoever writes them (the national import, the city layer load, the city
administrator's online-level changes, a manual fix in SQL); see `version_token`. Readers compare the token in
their own transaction with the token their cache was built under (`motcua.services.catalog.catalog_snapshot`),
so a committed change shows at once in every process.
"""

from __future__ import annotations

from motcua.store.schema.catalog import city_procedures, procedures
from motcua.store.schema.version_token import version_token_table

catalog_version = version_token_table(
    "catalog_version", function="motcua_catalog_changed", watched=(procedures, city_procedures)
)
