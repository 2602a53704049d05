"""The replay task (queue ``fanout``): a resuming socket gets what it missed (docs/recovery.md).

The view answers a resume request at once and enqueues this task after its transaction
commits; the task reads each channel's window and posts the frames to the one connection
through the normal fan-out path (ledger, retries, rate limiter), in order: each frame is a
one-recipient broadcast delivered by this task before the next is planned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task

from wsgateway import recovery
from wsgateway.fanout.planner import POST
from wsgateway.fanout.targets import Target
from wsgateway.models import WebSocketSession
from wsgateway.tasks.fanout import _FANOUT_OPTIONS, _broadcast, _through_outages

logger = logging.getLogger("wsgateway.recovery")


def _reader(
    channel: str, since: str | None, api_gateway_id: int | None, own_channel: bool
) -> Callable[[], recovery.ReadResult]:
    return lambda: recovery.read_since(channel, since, api_gateway_id=api_gateway_id, own_channel=own_channel)


@shared_task(name="wsgateway.replay_channels", **_FANOUT_OPTIONS)
def replay_channels(
    connection_id: str,
    channels: dict[str, str | None],
    *,
    refused: dict[str, dict[str, str | None]] | None = None,
    api_gateway_id: int | None = None,
    request: str | None = None,
) -> dict[str, Any]:
    """Send ``connection_id`` the messages it missed on each of ``channels`` (name -> the last id
    it saw, ``None`` for "tell me where the channel is"), and a gap frame for each channel in
    ``refused`` (name -> ``{"reason": ..., "since": ...}``). The caller checked the socket may
    read ``channels``.

    Returns the number of frames and, per channel, the messages replayed (or ``"gap"``).
    """
    frames: list[recovery.Frame] = [
        recovery.gap_frame(name, why.get("since"), "", str(why.get("reason")), request)
        for name, why in (refused or {}).items()
    ]
    replayed: dict[str, int | str] = {}
    # A queryset send on channel_name reached the sessions whose own channel it is, not its
    # subscribers: the replay keeps that difference.
    own = (
        WebSocketSession.objects.filter(connection_id=connection_id)
        .values_list("channel_name", flat=True)
        .first()
    )
    for name, since in channels.items():
        reader = _reader(name, since, api_gateway_id, own_channel=name == own)
        result = _through_outages(reader, f"recovery read channel={name}")
        replayed[name] = "gap" if result.gap else len(result.entries)
        frames.extend(recovery.replay_frames(result, request=request))
    queryset = Target(connection_id=connection_id).queryset()
    for message_id, body in frames:
        _broadcast(queryset, message_id, POST, body)
    logger.info("wsgateway.recovery replay connection=%s frames=%d %s", connection_id, len(frames), replayed)
    return {"connection_id": connection_id, "frames": len(frames), "channels": replayed}
