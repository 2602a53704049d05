"""Fixtures of the maintenance tests: the emulator over real sockets, real Redis and database."""

from wsgateway.emulator.pytest_plugin import emulator  # noqa: F401
