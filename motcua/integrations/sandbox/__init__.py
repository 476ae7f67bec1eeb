"""The registry and portal sandbox (`motcua sandbox`): synthetic national data over real HTTP."""
