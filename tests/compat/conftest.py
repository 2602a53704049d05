"""The provisioning tests' fixtures (the emulator as the control plane, a gateway row)."""

from tests.provisioning.conftest import aws, gateway  # noqa: F401
from wsgateway.emulator.pytest_plugin import emulator, recording_backend  # noqa: F401
