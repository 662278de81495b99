"""The code location's definitions, one folder per domain, loaded by `dg.load_from_defs_folder`.

Each domain owns its assets, checks, jobs, sensors, schedules and resources. A module's
definitions come from a `@dg.definitions` function, so settings are read when the code location
loads, never at import. Modules without one (`bronze`, `runs`) hold what the domains share.
"""
