"""Fixtures of the fault tests (a pipeline on the machine's PostgreSQL with the fault plugin)
shared by the multi-machine tests (test_slurm.py, test_hosts.py)."""

from tests.populate.test_faults import pg_pipe, plugin_dir  # noqa: F401 (fixtures)
