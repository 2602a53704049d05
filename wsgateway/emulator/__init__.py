"""A local AWS API Gateway **WebSocket** emulator, faithful to docs/architecture.md §4.

One port serves everything (aiohttp):

Control plane (``apigatewayv2``, boto3 with ``endpoint_url="http://HOST:PORT"``)
    ``/v2/apis``, ``/v2/apis/{apiId}/integrations|routes|stages|deployments`` (+ route and
    integration responses), ``/v2/domainnames``, ``/v2/domainnames/{name}/apimappings``.
    An API's ``ApiEndpoint`` is ``ws://HOST:PORT/{apiId}``.

Data plane
    ``ws://HOST:PORT/{apiId}/{stage}[?query]`` — WebSocket; events are forwarded to the stage's
    *deployed* integrations (see :mod:`wsgateway.emulator.data_plane` for the exact requests).
    On a custom domain (Host header = a DomainName created through the control plane):
    ``ws://DOMAIN/{apiMappingKey}`` or ``ws://DOMAIN/`` for an empty mapping key.

Management API (``apigatewaymanagementapi``, ``endpoint_url="http://HOST:PORT/{apiId}/{stage}"``)
    ``POST|GET|DELETE /{apiId}/{stage}/@connections/{connectionId}``; on a custom domain
    ``/{apiMappingKey}/@connections/{id}`` (``/@connections/{id}`` for an empty key); using the
    stage instead of the mapping key there is a 403, like AWS. See
    :mod:`wsgateway.emulator.management` for the status codes.

Admin (emulator only, JSON; every path but ``health`` needs the ``X-Emulator-Admin-Token``
header, bodies must be ``application/json``: see :mod:`wsgateway.emulator.security`)
    ``GET  /_emulator/health``                           liveness
    ``GET  /_emulator/config``                           current configuration
    ``POST /_emulator/config``                           change runtime settings: ``fail_429``,
    ``fail_500``, ``latency_ms``, ``latency_max_ms``, ``seed``, ``control_plane_fail``,
    ``throttle_control_plane``, ``idle_timeout``, ``max_lifetime``, ``frame_limit``,
    ``message_limit``, ``send_buffer_limit``, ``virtual_keep_messages`` (never credentials,
    tokens, hosts or TLS: those are fixed at start)
    ``GET  /_emulator/connections[?apiId=&virtual=0]``  live connections (api, stage, ids, state)
    ``GET  /_emulator/stats``                            counters (``management.POST.200``,
    ``forward.$connect``, ``forward.MESSAGE``, ``faults.429``, ``connections.opened`` ...)
    ``POST /_emulator/reset-stats``                      zero the counters
    ``POST /_emulator/reset``                            forget all state, close all connections
    ``POST /_emulator/virtual-connections``              ``{"apiId", "stage", "count"}`` → N
    socket-less connections that accept @connections POSTs and keep the last messages (without
    ``apiId`` a deployed API is created); answers ``{"apiId", "stage", "managementEndpoint",
    "connectionIds"}``
    ``GET  /_emulator/virtual-connections/{id}/messages``  ``{"count", "bytes", "messages"}``
    ``DELETE /_emulator/virtual-connections[/{id}][?apiId=]``  remove them

Start it with ``python -m wsgateway.emulator --port 4510`` (``wsgateway-emulator``), or in-process
with :class:`EmulatorServer` (``emu.admin(...)``/``emu.client(...)`` carry the admin token,
credentials and CA); pytest fixtures live in :mod:`wsgateway.emulator.pytest_plugin`. Every
control-plane and ``@connections`` request must be SigV4-signed; off loopback the emulator
needs credentials to verify them and an admin token (``--help``).
"""

from .config import EmulatorConfig
from .server import Emulator, EmulatorServer, running_emulator, serve

__all__ = ["Emulator", "EmulatorConfig", "EmulatorServer", "running_emulator", "serve"]
