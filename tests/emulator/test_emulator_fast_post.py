"""The @connections POST fast path (wsgateway/emulator/fast_post.py): the same bytes and effects
as aiohttp's answer, requests answered in order, anything else handed to aiohttp."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.timeout(60)


def _post(api: str, stage: str, connection_id: str, body: bytes, host: str) -> bytes:
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    authorization = (
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{amz_date[:8]}/us-east-1/execute-api/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
    )
    return (
        f"POST /{api}/{stage}/@connections/{quote(connection_id, safe='')} HTTP/1.1\r\nHost: {host}\r\n"
        f"X-Amz-Date: {amz_date}\r\nAuthorization: {authorization}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _answers(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` HTTP answers read from ``sock`` (each head plus its Content-Length body)."""
    data = b""
    answers: list[bytes] = []
    sock.settimeout(10)
    while len(answers) < count:
        end = data.find(b"\r\n\r\n")
        match = re.search(rb"(?i)\r\ncontent-length: (\d+)", data[:end]) if end >= 0 else None
        if match and len(data) >= end + 4 + int(match.group(1)):
            size = end + 4 + int(match.group(1))
            answers.append(data[:size])
            data = data[size:]
            continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(answers)} answers"
        data += chunk
    return answers


def _without_date(answer: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"", answer)


@pytest.fixture
def virtual(emulator):
    made = emulator.admin("virtual-connections", {"count": 3})
    return made["apiId"], made.get("stage", "test"), made["connectionIds"]


@pytest.fixture
def fast_served(emulator, monkeypatch):
    """How many requests the fast path delivered (the emulator runs in this process)."""
    fast = emulator._runner.server.fast
    served = []
    deliver = fast.deliver

    def counting(*args):
        ok = deliver(*args)
        served.append(ok)
        return ok

    monkeypatch.setattr(fast, "deliver", counting)
    return served


def _messages(emulator, connection_id):
    return [
        m["data"]
        for m in emulator.admin(f"virtual-connections/{quote(connection_id, safe='')}/messages")["messages"]
    ]


def test_a_fast_answer_is_aiohttps_answer(emulator, virtual, fast_served):
    api, stage, ids = virtual
    host = f"127.0.0.1:{emulator.port}"
    with socket.create_connection(("127.0.0.1", emulator.port)) as fast:
        fast.sendall(_post(api, stage, ids[0], b'{"n": 1}', host))
        (fast_answer,) = _answers(fast, 1)
    assert fast_served == [True]
    with socket.create_connection(("127.0.0.1", emulator.port)) as slow:
        # A first request the fast path does not take hands the connection to aiohttp.
        slow.sendall(f"GET /_emulator/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        _answers(slow, 1)
        slow.sendall(_post(api, stage, ids[0], b'{"n": 2}', host))
        (slow_answer,) = _answers(slow, 1)
    assert fast_served == [True]  # aiohttp answered the second
    assert fast_answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert _without_date(fast_answer) == _without_date(slow_answer)
    assert _messages(emulator, ids[0]) == ['{"n": 1}', '{"n": 2}']
    assert emulator.stats()["management.POST.200"] == 2


def test_pipelined_posts_split_anywhere_are_answered_in_order(emulator, virtual, fast_served):
    api, stage, ids = virtual
    host = f"127.0.0.1:{emulator.port}"
    first = _post(api, stage, ids[0], b"one", host)
    second = _post(api, stage, ids[1], b"two", host)
    gone = _post(api, stage, "AAAAAAAAAAAAAAA=", b"never", host)  # 410: aiohttp's answer
    last = _post(api, stage, ids[2], b"after", host)
    with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.sendall(first + second[:40])
        time.sleep(0.05)  # the second request's rest comes in another read
        sock.sendall(second[40:-2])
        time.sleep(0.05)
        sock.sendall(second[-2:] + gone + last)
        answers = _answers(sock, 4)
    assert [a.split(b"\r\n", 1)[0] for a in answers] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 410 Gone",
        b"HTTP/1.1 200 OK",
    ]
    assert b"GoneException" in answers[2]
    assert fast_served == [True, True, False]  # the 410 and what follows: aiohttp's
    assert [_messages(emulator, i) for i in ids] == [["one"], ["two"], ["after"]]


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.replace(b"Content-Length", b"Transfer-Encoding: identity\r\nContent-Length"),
        lambda r: r.replace(b"Host: ", b"Host: evil.example\r\nX-Was: "),
        lambda r: r.replace(b"Authorization: AWS4", b"Authorization: Basic AWS4"),
        lambda r: r.replace(b"HTTP/1.1\r\n", b"HTTP/1.0\r\n"),
        lambda r: r.replace(b"Content-Length", b"Expect: 100-continue\r\nContent-Length"),
    ],
    ids=["transfer-encoding", "foreign-host", "unsigned", "http-1.0", "expect"],
)
def test_anything_but_the_plain_case_is_aiohttps(emulator, virtual, fast_served, change):
    api, stage, ids = virtual
    request = change(_post(api, stage, ids[0], b"x", f"127.0.0.1:{emulator.port}"))
    with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.sendall(request)
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.")
    assert fast_served in ([], [False])


def test_a_request_sent_in_small_pieces_costs_its_size_not_its_size_squared(emulator, virtual, monkeypatch):
    api, stage, ids = virtual
    host = f"127.0.0.1:{emulator.port}"
    request = _post(api, stage, ids[0], b"b" * (128 * 1024), host)  # the largest message accepted
    fast = emulator._runner.server.fast
    scanned: list[int] = []
    parse = fast.parse

    def counting(data, pos):
        scanned.append(len(data) - pos)
        return parse(data, pos)

    monkeypatch.setattr(fast, "parse", counting)
    with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(request), 512):
            sock.sendall(request[start : start + 512])
            time.sleep(0.0002)  # most pieces come in a read of their own
        (answer,) = _answers(sock, 1)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert _messages(emulator, ids[0]) == ["b" * (128 * 1024)]
    # Re-parsing everything received at each packet was ~250 times the request's size here.
    assert sum(scanned) <= 3 * len(request), (len(scanned), sum(scanned))


def test_requests_split_at_every_byte_stay_on_the_fast_path(emulator, virtual, fast_served):
    api, stage, ids = virtual
    host = f"127.0.0.1:{emulator.port}"
    requests = _post(api, stage, ids[1], b"q" * 300, host) + _post(api, stage, ids[1], b"r", host)
    with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index in range(len(requests)):
            sock.sendall(requests[index : index + 1])
            time.sleep(0.0005)
        answers = _answers(sock, 2)
    assert [a.split(b"\r\n", 1)[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 2
    assert fast_served == [True, True]  # a packet holding only "P" or "PO" is no reason to hand over
    assert _messages(emulator, ids[1]) == ["q" * 300, "r"]


def test_a_signature_of_non_ascii_characters_is_a_403_not_a_500():
    from wsgateway.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(port=0, access_key="AKIDEXAMPLE", secret_key="good-secret")) as emu:
        made = emu.admin("virtual-connections", {"count": 1})
        api, stage, ids = made["apiId"], made.get("stage", "test"), made["connectionIds"]
        request = _post(api, stage, ids[0], b"x", f"127.0.0.1:{emu.port}")
        request = request.replace(b"Signature=" + b"0" * 64, "Signature=é".encode())  # aiohttp's (not ASCII)
        with socket.create_connection(("127.0.0.1", emu.port)) as sock:
            sock.sendall(request)
            (answer,) = _answers(sock, 1)
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"InvalidSignatureException" in answer
