"""The `motcua` command line."""
