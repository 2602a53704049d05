"""Recovery across reconnects: each channel's recent messages, kept in Redis (docs/recovery.md).

Every message sent to a channel is appended to that channel's Redis stream before its recipients
are planned, and the envelope the clients receive is stamped with the entry's id
(``"recovery_id"``, with ``"recovery_channel"``). Stream ids only grow, so a client that
remembers the last id it saw can ask for everything after it (:func:`read_since`).

The stream keeps ``RECOVERY_WINDOW_SECONDS`` of messages, at most ``RECOVERY_MAX_MESSAGES`` and
``RECOVERY_MAX_BYTES`` of them; trimming is exact (not ``~``) so that Redis's record of the
newest trimmed id (``max-deleted-entry-id``) tells precisely whether a client's id is still
covered. A channel without messages for a whole window loses its stream (key TTL); a small
marker (``last`` id, kept :data:`MARKER_TTL_SECONDS`) then still answers "nothing was missed"
to a client whose id is that last one.

What is *not* covered is reported as a gap, never silently: ids older than the oldest kept
entry, a stream that expired after newer messages, and a Redis that lost its data (the marker
is gone too, and a stream created afresh records everything before its first entry as trimmed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from wsgateway import strict_json
from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import PayloadTooLargeError
from wsgateway.fanout.messages import new_message_id
from wsgateway.redis_client import get_redis

__all__ = [
    "CHANNEL_FIELD",
    "GAP",
    "ID_FIELD",
    "Entry",
    "Frame",
    "ReadResult",
    "enabled",
    "gap_frame",
    "kept_channel",
    "marker_key",
    "read_since",
    "record",
    "replay_frames",
    "stamp",
    "stamp_overhead",
    "stream_key",
]

#: Envelope keys a channel message gains (reserved on channel messages; the rest is unchanged).
ID_FIELD = "recovery_id"
CHANNEL_FIELD = "recovery_channel"
#: The frame types a resuming client receives (the messages it missed, or "cannot say").
REPLAY = "wsgateway.recovery"
GAP = "wsgateway.recovery_gap"

#: How long a channel's marker outlives its messages (about 0.8 KB per channel, measured by
#: benchmarks/recovery_memory.py, most of it the retry look-back).
MARKER_TTL_SECONDS = 24 * 3600
#: Entries read per Redis call while replaying.
PAGE = 200
#: A resuming client is sent entries from this long before its id too (it drops the ones it has
#: by message_id): two sends planned in parallel can reach a socket in the other order, and the
#: earlier one may still have been in flight to the old socket when it closed.
REORDER_SLACK_MS = 2000
#: Records a retried record looks back over for its own message id (a reply lost after XADD);
#: kept in the channel's marker, a few dozen bytes each.
RETRY_LOOKBACK = 8

_PREFIX = "wsgateway:recovery:"


def stream_key(channel: str) -> str:
    """The channel's stream. The ``{channel}`` hash tag keeps the stream and its marker in one
    Redis Cluster slot (the scripts touch both)."""
    return f"{_PREFIX}{{{channel}}}:stream"


def marker_key(channel: str) -> str:
    """The channel's marker hash: ``last`` (newest id ever added), ``bytes`` (bytes kept in the
    stream) and ``recent`` (the last few message ids and their entry ids, for retried records)."""
    return f"{_PREFIX}{{{channel}}}:meta"


def enabled() -> bool:
    """Whether channel messages are kept and stamped (``RECOVERY_WINDOW_SECONDS`` > 0)."""
    return float(wsgateway_settings.RECOVERY_WINDOW_SECONDS) > 0


# Appends one message and trims the stream, atomically. KEYS: stream, marker. ARGV: message id,
# body, gateway id ("" = every gateway), window ms, max entries, max bytes, marker TTL s,
# look-back, "1" when only the sessions whose own channel it is received it.
# Returns the entry id. Sizes count the stored field values (what trimming by bytes bounds).
_RECORD = """
local stream, meta = KEYS[1], KEYS[2]
local mid, body, gw = ARGV[1], ARGV[2], ARGV[3]
local window_ms, maxlen, maxbytes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local marker_ttl = tonumber(ARGV[7])
local lookback = tonumber(ARGV[8])
local fields = {'m', mid, 'b', body, 'g', gw}
if ARGV[9] == '1' then
  -- Sent to the sessions whose own channel this is, not to its subscribers (a queryset send).
  fields[7], fields[8] = 'o', '1'
end

local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function entry_size(fields)
  local n = 0
  for i = 2, #fields, 2 do n = n + #fields[i] end
  return n
end

local exists = redis.call('EXISTS', stream) == 1
-- The marker's 'recent' field lists the last few "\\n<message id> <entry id>" (newest first):
-- a retry of a record whose reply was lost finds its entry there (cheaper than reading entries).
local recent = redis.call('HGET', meta, 'recent') or ''
if exists and #mid <= 64 then
  local at = string.find(recent, '\\n' .. mid .. ' ', 1, true)
  if at then
    local from = at + #mid + 2
    local to = (string.find(recent, '\\n', from, true) or (#recent + 1)) - 1
    return string.sub(recent, from, to)
  end
end

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local size = #mid + #body + #gw
local id
if exists then
  id = redis.call('XADD', stream, '*', unpack(fields))
  redis.call('HINCRBY', meta, 'bytes', size)
else
  local last = redis.call('HGET', meta, 'last')
  local wanted = '*'
  if last then
    local lms, lseq = split(last)
    if lms and lms >= now_ms then wanted = last:match('^(%d+)-') .. '-' .. string.format('%d', lseq + 1) end
  end
  id = redis.call('XADD', stream, wanted, unpack(fields))
  -- Whatever this channel had before this stream is unknown unless the marker says where it
  -- ended: record it as trimmed, so a client holding an older id is told about the gap.
  local before = last
  if not before then
    local ms, seq = split(id)
    if seq > 0 then
      before = id:match('^(%d+)-') .. '-' .. string.format('%d', seq - 1)
    else
      before = string.format('%d', ms - 1) .. '-18446744073709551615'
    end
  end
  redis.call('XSETID', stream, id, 'ENTRIESADDED', 1, 'MAXDELETEDID', before)
  redis.call('HSET', meta, 'bytes', size)
end
redis.call('HSET', meta, 'last', id)
if #mid <= 64 then
  local kept, n, pos = '\\n' .. mid .. ' ' .. id, 1, 1
  while n < lookback do
    local s, e = string.find(recent, '\\n[^\\n]*', pos)
    if not s then break end
    kept = kept .. string.sub(recent, s, e)
    pos, n = e + 1, n + 1
  end
  redis.call('HSET', meta, 'recent', kept)
end

-- Trim the oldest entries while the stream holds too many, too many bytes, or too old ones;
-- the entry just added always stays. Exact trimming (not ~), and the newest removed id recorded.
local count = redis.call('XLEN', stream)
local bytes = tonumber(redis.call('HGET', meta, 'bytes'))
local oldest_ms = now_ms - window_ms
local keep = nil
local freed = 0
local removed = nil
local cursor = '-'
local step = 1  -- usually nothing or one entry goes: look at the oldest first, then wider
while keep == nil do
  local batch = redis.call('XRANGE', stream, cursor, '+', 'COUNT', step)
  step = 32
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    local ms = split(e[1])
    if e[1] == id or (count <= maxlen and bytes - freed <= maxbytes and ms >= oldest_ms) then
      keep = e[1]
      break
    end
    count = count - 1
    freed = freed + entry_size(e[2])
    removed = e[1]
  end
  cursor = '(' .. batch[#batch][1]
end
if keep and removed then
  redis.call('XTRIM', stream, 'MINID', keep)
  -- XTRIM does not record what it removed (Redis 7.0 updates max-deleted-entry-id on XDEL
  -- only); the gap check reads it, so set it.
  redis.call('XSETID', stream, id, 'MAXDELETEDID', removed)
  redis.call('HINCRBY', meta, 'bytes', -freed)
end
redis.call('PEXPIRE', stream, window_ms)
redis.call('EXPIRE', meta, marker_ttl)
return id
"""

# One page of entries after a cursor, with the stream's state, atomically. KEYS: stream, marker.
# ARGV: the client's id, the cursor to read after, page size. Returns
# {status, entries, last}: status "ok", "gap" (entries after the client's id were dropped, or
# the id is unknown to this stream) or "none" (no stream, and the marker says nothing came after
# the id). The read starts after max(cursor, newest trimmed id).
_READ = """
local stream, meta = KEYS[1], KEYS[2]
local since, cursor, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function after(a, b)
  local ams, aseq = split(a)
  local bms, bseq = split(b)
  return ams > bms or (ams == bms and aseq > bseq)
end
if redis.call('EXISTS', stream) == 0 then
  local last = redis.call('HGET', meta, 'last')
  if last and last == since then return {'none', {}, last} end
  return {'gap', {}, last or ''}
end
local info = redis.call('XINFO', 'STREAM', stream)
local deleted, last = '0-0', '0-0'
for i = 1, #info, 2 do
  if info[i] == 'max-deleted-entry-id' then deleted = info[i + 1] end
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
if after(deleted, since) or after(since, last) then return {'gap', {}, last} end
local start = cursor
if after(deleted, start) then start = deleted end
return {'ok', redis.call('XRANGE', stream, '(' .. start, '+', 'COUNT', count), last}
"""


def kept_channel(target: Any) -> str | None:
    """The channel whose window keeps a message sent to ``target`` (a
    :class:`~wsgateway.fanout.targets.Target`), or ``None``: only a message for a whole channel
    (maybe narrowed to one gateway) is kept, not one for a connection or a user on it, which the
    channel's other clients must not receive on replay. ``None`` too while recovery is off."""
    channel = target.channel_name
    if not channel or target.connection_id is not None or target.user_id is not None or not enabled():
        return None
    return str(channel)


# The channel's newest id, as a starting point for a client that has seen nothing yet. A channel
# that never had a message (or whose marker is gone) gets a marker made now, so its first message
# is known to come after it. KEYS: marker. ARGV: marker TTL s.
_BASELINE = """
local last = redis.call('HGET', KEYS[1], 'last')
if not last then
  local t = redis.call('TIME')
  last = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000)) .. '-0'
  redis.call('HSET', KEYS[1], 'last', last)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return last
"""


def _marker_ttl() -> int:
    # The marker must outlive the stream it describes.
    return max(MARKER_TTL_SECONDS, 2 * int(float(wsgateway_settings.RECOVERY_WINDOW_SECONDS)) + 1)


# ASCII digits only: str.isdigit() also admits superscripts and Arabic-Indic digits, which
# int() or the scripts' Lua pattern (%d) then reject inside the replay task.
_ID_RE = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


def _valid_id(value: str) -> bool:
    return _ID_RE.fullmatch(value) is not None


def stamp_overhead(channel: str) -> int:
    """Bytes the stamp adds to a body (an upper bound: stream ids have at most 41 characters)."""
    return len(f',"{ID_FIELD}":"","{CHANNEL_FIELD}":') + len(strict_json.dumps(channel).encode()) + 41


def check_room(channel: str, body: str) -> None:
    """Refuse, at enqueue time, a channel message that would exceed ``MAX_MESSAGE_BYTES`` once
    stamped (:class:`~wsgateway.exceptions.PayloadTooLargeError`)."""
    if not enabled() or not channel:
        return
    size = len(body.encode()) + stamp_overhead(channel)
    limit = int(wsgateway_settings.MAX_MESSAGE_BYTES)
    if size > limit:
        raise PayloadTooLargeError(
            f"The message is {size} bytes with its recovery id; API Gateway accepts at most {limit} "
            "(MAX_MESSAGE_BYTES).",
            operation="PostToConnection",
            status_code=413,
        )


def stamp(body: str, channel: str, entry_id: str) -> str:
    """``body`` (a compact JSON object) with the recovery id and channel added at its end.

    Spliced, not re-encoded: the body is already valid compact JSON ending in ``}``, and the
    fields are appended after every other key (a body that had them gets the stamp's values).
    """
    if not body.endswith("}"):
        raise ValueError("A message body must be a JSON object.")
    separator = "," if body != "{}" else ""
    channel_json = strict_json.dumps(channel)
    return f'{body[:-1]}{separator}"{ID_FIELD}":"{entry_id}","{CHANNEL_FIELD}":{channel_json}}}'


def record(
    channel: str,
    message_id: str,
    body: str,
    *,
    api_gateway_id: int | None = None,
    own_channel_only: bool = False,
) -> str:
    """Append one message to ``channel``'s window and return the body stamped with its id.

    Called by the planning task before it reads the recipients, so a client that resumes later
    either finds the message in the window or was already on the channel when it was planned.
    A retried call for the same ``message_id`` (within the last few entries) gets the same id.
    ``own_channel_only``: the message went to the sessions whose own channel it is, not to the
    channel's subscribers (a queryset filtered on ``channel_name``); so does its replay.
    """
    check_room(channel, body)
    script = get_redis().register_script(_RECORD)
    window_ms = max(1, int(float(wsgateway_settings.RECOVERY_WINDOW_SECONDS) * 1000))
    args: list[str | int] = [
        message_id,
        body,
        "" if api_gateway_id is None else str(api_gateway_id),
        window_ms,
        int(wsgateway_settings.RECOVERY_MAX_MESSAGES),
        int(wsgateway_settings.RECOVERY_MAX_BYTES),
        _marker_ttl(),
        RETRY_LOOKBACK,
        "1" if own_channel_only else "",
    ]
    raw = script(keys=[stream_key(channel), marker_key(channel)], args=args)
    entry_id = raw.decode() if isinstance(raw, bytes) else str(raw)
    return stamp(body, channel, entry_id)


@dataclass(frozen=True)
class Entry:
    """One kept message: its stream id and the stamped body clients receive."""

    id: str
    message_id: str
    body: str


@dataclass
class ReadResult:
    """What a resuming client is owed on one channel.

    ``gap``: the window no longer covers ``since`` (or Redis cannot tell); ``entries`` is then
    empty. ``latest``: the newest id the channel ever had ("" when unknown), a new starting point.
    """

    channel: str
    since: str | None
    gap: bool = False
    latest: str = ""
    entries: list[Entry] = field(default_factory=list)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _slack_cursor(since: str) -> str:
    ms = _ms(since) - REORDER_SLACK_MS
    return f"{ms}-0" if ms > 0 else "0-0"


def read_since(
    channel: str, since: str | None, *, api_gateway_id: int | None = None, own_channel: bool = True
) -> ReadResult:
    """Every kept message of ``channel`` after ``since``, in id order (plus up to
    :data:`REORDER_SLACK_MS` before it, which the client has already seen and drops by
    ``message_id``); or a gap.

    ``since=None`` asks only for the starting point (``latest``): a client that has not received
    anything yet (a channel without messages gets a marker now, so its first message is known to
    come after it). Messages sent to another gateway only (``api_gateway_id`` given when sending)
    are left out when ``api_gateway_id`` is given, and messages sent to the channel's own sessions
    only are left out for a socket on it by subscription (``own_channel=False``).
    """
    keys = [stream_key(channel), marker_key(channel)]
    client = get_redis()
    if since is None:
        baseline = client.register_script(_BASELINE)(keys=[keys[1]], args=[_marker_ttl()])
        return ReadResult(channel, None, latest=_text(baseline))
    if not _valid_id(since):
        return ReadResult(channel, since, gap=True)
    script = client.register_script(_READ)
    result = ReadResult(channel, since)
    cursor = _slack_cursor(since)
    wanted_gateway = "" if api_gateway_id is None else str(api_gateway_id)
    # Bounded: the stream holds at most RECOVERY_MAX_MESSAGES entries, read PAGE at a time.
    pages = int(wsgateway_settings.RECOVERY_MAX_MESSAGES) // PAGE + 2
    for _ in range(pages):
        status, rows, latest = script(keys=keys, args=[since, cursor, PAGE])
        status, result.latest = _text(status), _text(latest)
        if status == "gap":
            return ReadResult(channel, since, gap=True, latest=result.latest)
        if status == "none" or not rows:
            break
        for raw_id, raw_fields in rows:
            entry_id = _text(raw_id)
            values = dict(zip(raw_fields[::2], raw_fields[1::2], strict=True))
            fields = {_text(k): _text(v) for k, v in values.items()}
            cursor = entry_id
            gateway = fields.get("g", "")
            if gateway and wanted_gateway and gateway != wanted_gateway:
                continue
            if fields.get("o") and not own_channel:
                continue
            result.entries.append(Entry(entry_id, fields.get("m", ""), stamp(fields["b"], channel, entry_id)))
        if len(rows) < PAGE:
            break
    return result


def _frame(kind: str, channel: str, since: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "channel": channel, "since": since, **extra, "message_id": new_message_id()}


#: A frame for one connection: ``(message_id, body)``.
Frame = tuple[str, str]


def _encoded(frame: dict[str, Any]) -> Frame:
    return frame["message_id"], strict_json.dumps(frame)


def gap_frame(channel: str, since: str | None, latest: str, reason: str, request: str | None = None) -> Frame:
    """The frame telling a client it cannot be brought up to date on ``channel``: resynchronise.

    ``reason``: ``"window"`` (the window no longer covers ``since``, or Redis lost it),
    ``"forbidden"`` (the socket may not read this channel), ``"rate_limited"``.
    """
    return _encoded(_frame(GAP, channel, since, {"reason": reason, "latest": latest, "request": request}))


def replay_frames(result: ReadResult, limit: int | None = None, request: str | None = None) -> list[Frame]:
    """The frames carrying ``result`` to the client: each at most ``limit`` bytes
    (``MAX_MESSAGE_BYTES``), numbered ``part`` 1..``parts``; at least one, so the client learns
    that recovery finished even when it missed nothing.

    The messages go in as the stamped envelopes the client would have received, in id order; one
    too large to wrap goes alone, as it was sent, before the parts. ``request`` (the client's tag
    of its resume request) is echoed.
    """
    if result.gap:
        return [gap_frame(result.channel, result.since, result.latest, "window", request)]
    limit = int(wsgateway_settings.MAX_MESSAGE_BYTES) if limit is None else limit
    head: dict[str, Any] = {
        "latest": result.latest,
        "request": request,
        "part": 999999,
        "parts": 999999,
        "messages": [],
    }
    overhead = len(strict_json.dumps(_frame(REPLAY, result.channel, result.since, head)).encode())
    groups: list[list[str]] = [[]]
    size = overhead
    alone: list[Frame] = []
    for entry in result.entries:
        grown = len(entry.body.encode()) + 1
        if overhead + grown > limit:
            # Too large to wrap: sent as received live, before the parts (the client merges it
            # by id with the parts; a fresh broadcast id, the message's own belongs to its send).
            alone.append((new_message_id(), entry.body))
            continue
        if groups[-1] and size + grown > limit:
            groups.append([])
            size = overhead
        groups[-1].append(entry.body)
        size += grown
    frames = alone
    for number, bodies in enumerate(groups, start=1):
        meta = {"latest": result.latest, "request": request, "part": number, "parts": len(groups)}
        message_id, empty = _encoded(_frame(REPLAY, result.channel, result.since, {**meta, "messages": []}))
        # Splice the already encoded envelopes into the list (no decode/encode per message).
        marker = '"messages":[]'
        frames.append((message_id, empty.replace(marker, '"messages":[' + ",".join(bodies) + "]", 1)))
    return frames


def parse_request(channels: Any) -> dict[str, str | None]:
    """A resume request's ``channels`` (``{name: last id or null}``) checked for shape only;
    ``ValueError`` for anything else. Permission is the view's business."""
    if not isinstance(channels, dict):
        raise ValueError("'channels' must be an object of channel name -> last id (or null).")
    parsed: dict[str, str | None] = {}
    for name, since in channels.items():
        if since is not None and not (isinstance(since, str) and _valid_id(since)):
            raise ValueError(f"The last id of {str(name)[:64]!r} must be a stream id like '1700000000000-0'.")
        parsed[str(name)] = since
    return parsed
