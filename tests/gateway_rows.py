"""The gateway row that receives API Gateway's events in the ingestion tests and the inbound
benchmarks (benchmarks/inbound.py, benchmarks/inbound_reference.py).

No pytest here: the benchmarks import this module too, with wsgateway's model or the reference
package's (the fields are the same in both).
"""

from __future__ import annotations


def event_gateway_fields(api_id: str) -> dict[str, object]:
    """An API that exists at AWS (``api_created``), its endpoint, stage and default channel."""
    return {
        "api_id": api_id,
        "api_endpoint": f"wss://{api_id}.execute-api.us-east-1.amazonaws.com",
        "stage_name": "production",
        "default_channel_name": "lobby",
        "api_created": True,
    }
