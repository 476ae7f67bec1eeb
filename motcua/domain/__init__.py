"""Pure rules: no I/O, no clock, no database. Everything here is deterministic given its inputs."""
