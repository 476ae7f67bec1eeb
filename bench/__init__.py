"""motcua's performance benchmark suite (issue #6): `python -m bench --help` or `make bench`.

Every benchmark writes `bench/results/<date>-<name>.json` and `.md` with the machine, the versions, the scale
and the ceilings measured in the same run, so a figure is always read as a ratio to what the machine can do.
"""
