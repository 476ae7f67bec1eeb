"""Adapters to systems outside motcua: the national registries behind the city's data-sharing platform
(LGSP), the National Public Service Portal, and a sandbox that imitates both for development and tests."""
