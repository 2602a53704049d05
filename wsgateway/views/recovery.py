"""The resume handler: a reconnected socket asks for what it missed (docs/recovery.md).

A client sends ``{"action": "wsgateway.resume", "channels": {"room": "1700000000000-0"}}``
(the last recovery id it saw per channel; ``null`` for a channel it has seen nothing on yet).
The view checks each channel against the socket (it must be on the channel and still allowed
to read it), answers at once with what it accepted, and enqueues
:func:`wsgateway.tasks.recovery.replay_channels` after its transaction commits: the missed
messages come through the worker, like any other message, never inline in this request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.core.cache import cache
from django.db import transaction

from wsgateway import recovery, security, subscriptions
from wsgateway.tasks.recovery import replay_channels
from wsgateway.views.errors import EventRefused
from wsgateway.views.handlers import handler

if TYPE_CHECKING:
    from django.http import HttpRequest

    from wsgateway.models import ApiGateway, WebSocketSession

__all__ = ["RESUME_HANDLER", "RecoveryHandlers"]

#: The message name of the resume request (namespaced: it never shadows a project's handler).
RESUME_HANDLER = "wsgateway.resume"


class RecoveryHandlers:
    """The ``wsgateway.resume`` handler, mixed into :class:`~wsgateway.views.WebSocketView`."""

    #: Most channels one resume request may name.
    RECOVERY_MAX_CHANNELS: ClassVar[int] = 100
    #: A socket may ask for one channel at most once in this many seconds (a replay can be a few
    #: MiB of posts; a client looping on resume must not turn into that many posts a second).
    RECOVERY_REQUEST_INTERVAL_SECONDS: ClassVar[int] = 5
    #: Gap frames for refused channels a socket is sent per ``RECOVERY_REQUEST_INTERVAL_SECONDS``.
    #: Refused names are not rate-limited one by one (any name can be refused), so without this
    #: one message naming 100 foreign channels would cost 100 posts; a refused channel past the
    #: budget gets no frame and the client's own timeout reports its gap.
    RECOVERY_REFUSED_FRAMES: ClassVar[int] = 10

    # Set by the view while it handles an event.
    request: HttpRequest
    connection_id: str
    session: WebSocketSession | None
    gateway: ApiGateway

    def can_join_channel(self, request: HttpRequest, channel_name: str) -> bool:  # pragma: no cover
        raise NotImplementedError  # the view's

    def recovery_channels(self) -> set[str]:
        """The channels this socket is on, hence may recover: its own channel and its
        subscriptions (:func:`wsgateway.subscriptions.channels_of`)."""
        session = self.session
        return {name for name in subscriptions.channels_of(session) if name} if session is not None else set()

    def may_recover(self, request: HttpRequest, channel: str) -> bool:
        """Whether this socket may be sent ``channel``'s missed messages: it is on the channel
        (:meth:`recovery_channels`) and the channel's permission still admits its user."""
        return channel in self.recovery_channels() and self.can_join_channel(request, channel)

    @handler(RESUME_HANDLER)
    def resume_recovery(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue the replay of every channel the socket may read; the others get a gap frame
        with the reason (``"forbidden"``, ``"rate_limited"``) so the client never waits.

        ``{"action": "wsgateway.resume", "channels": {name: last id | null}, "request": tag}``.
        The answer (``{"type": "wsgateway.resume", "accepted": [...], "refused": {...}}``) reaches
        the client only on a route with a route response; the frames always come.
        """
        self._recovery_on()
        try:
            channels = recovery.parse_request(body.get("channels"))
        except ValueError as err:
            raise EventRefused(400, "invalid_resume", str(err)) from err
        if not all(security.channel_name_valid(name) for name in channels):
            # Never a channel, so never readable; echoed back (escaped) in the answer and in a gap
            # frame, a 100 KB name would not fit in either.
            raise EventRefused(400, "invalid_resume", "Every channel must be a valid channel name.")
        if len(channels) > self.RECOVERY_MAX_CHANNELS:
            raise EventRefused(
                400, "invalid_resume", f"At most {self.RECOVERY_MAX_CHANNELS} channels at once."
            )
        accepted, refused = self._resume_channels(channels, self._resume_tag(body))
        return {"type": "wsgateway.resume", "accepted": sorted(accepted), "refused": refused}

    def resume_subscribed(self, channel: str, body: dict[str, Any]) -> None:
        """A ``subscribe`` message carrying ``"since"`` (the last recovery id the client saw on
        the channel, or null) resumes that channel too, once the subscription is written: a
        client that re-subscribes after a reconnect gets what it missed there (docs/recovery.md).
        """
        channels = self.subscribe_resume_request(channel, body)
        if channels is not None:
            self._resume_channels(channels, self._resume_tag(body))

    def subscribe_resume_request(self, channel: str, body: dict[str, Any]) -> dict[str, str | None] | None:
        """The resume a ``subscribe`` message asks for (``None``: none), checked for shape: the
        view calls it before writing the subscription, so a malformed ``"since"`` or
        ``"request"`` (400 ``invalid_resume``) leaves no subscription behind."""
        if "since" not in body or not recovery.enabled():
            return None
        try:
            channels = recovery.parse_request({channel: body["since"]})
        except ValueError as err:
            raise EventRefused(400, "invalid_resume", str(err)) from err
        self._resume_tag(body)
        return channels

    @staticmethod
    def _recovery_on() -> None:
        if not recovery.enabled():
            raise EventRefused(409, "recovery_disabled", "Recovery is turned off (RECOVERY_WINDOW_SECONDS).")

    @staticmethod
    def _resume_tag(body: dict[str, Any]) -> str | None:
        tag = body.get("request")
        if tag is not None and not (isinstance(tag, str) and len(tag) <= 64):
            raise EventRefused(400, "invalid_resume", "'request' must be a string of at most 64 characters.")
        return tag

    def _resume_channels(
        self, channels: dict[str, str | None], tag: str | None
    ) -> tuple[dict[str, str | None], dict[str, str]]:
        """Split ``channels`` into those to replay and those refused (name -> reason), and
        enqueue the replay of both after the transaction commits."""
        accepted: dict[str, str | None] = {}
        refused: dict[str, str] = {}
        for name, since in channels.items():
            if not self.may_recover(self.request, name):
                refused[name] = "forbidden"
            elif not cache.add(
                f"wsgateway:resume:{self.connection_id}:{name}", 1, self.RECOVERY_REQUEST_INTERVAL_SECONDS
            ):
                refused[name] = "rate_limited"
            else:
                accepted[name] = since
        framed = self._refused_within_budget(refused)
        if accepted or framed:
            why = {name: {"reason": refused[name], "since": channels[name]} for name in framed}
            kwargs = {"refused": why, "api_gateway_id": self.gateway.pk, "request": tag}
            args = (self.connection_id, accepted)
            transaction.on_commit(lambda: replay_channels.apply_async(args, kwargs))
        return accepted, refused

    def _refused_within_budget(self, refused: dict[str, str]) -> list[str]:
        """The refused channels that get a gap frame: the first of them, up to what is left of
        this socket's :attr:`RECOVERY_REFUSED_FRAMES` in the current interval."""
        if not refused:
            return []
        key = f"wsgateway:resume-refused:{self.connection_id}"
        cache.add(key, 0, self.RECOVERY_REQUEST_INTERVAL_SECONDS)
        try:
            used = cache.incr(key, len(refused)) - len(refused)
        except ValueError:  # the key expired between add and incr: a new interval
            cache.set(key, len(refused), self.RECOVERY_REQUEST_INTERVAL_SECONDS)
            used = 0
        return list(refused)[: max(0, self.RECOVERY_REFUSED_FRAMES - used)]
