"""Random and hostile byte streams for the ``@connections`` answer parser, from a seed.

Used by the suite (``test_http_answer.py``, a few thousand inputs) and by
``benchmarks/fuzz_http_answer.py`` (100,000 and more). Each input is a list of packets, so the
parser also sees every kind of split: one byte at a time, mid-line, mid-CRLF.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from wsgateway.aws.http_answer import AnswerParser, MalformedAnswer

VALID = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 410 Gone\r\nx-amzn-ErrorType: GoneException\r\nContent-Length: 22\r\n\r\n"
    b'{"message": "gone!!"}\n',
    b"HTTP/1.1 429 Too Many\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 500 Err\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nTrailer: 1\r\n\r\n",
    b"HTTP/1.0 204 No Content\r\nConnection: close\r\n\r\n",
]

HOSTILE = [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n" * 20,
    b"HTTP/1.1 -200 OK\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
    b"SSH-2.0-OpenSSH\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"a" * 40000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1;" + b"e" * 5000 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\nx\r\n" * 3000,
    b"\r\n" * 10000,
]


@dataclass
class FuzzStats:
    inputs: int = 0
    answers: int = 0
    malformed: int = 0
    incomplete: int = 0
    slowest: float = 0.0
    by_outcome: dict[str, int] = field(default_factory=dict)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        at = rng.randrange(len(buf) + 1)
        if kind == 0 and buf:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif kind == 1:
            buf[at:at] = rng.choice([b"-", b"\r\n", b"0", b"f" * rng.randint(1, 20), b";", b"\r\n\r\n"])
        elif kind == 2 and buf:
            del buf[at : at + rng.randint(1, 8)]
        elif kind == 3:
            buf[at:at] = rng.randbytes(rng.randint(1, 32))
        elif kind == 4:
            buf[at:at] = buf[at : at + rng.randint(1, 64)] * rng.randint(1, 50)
        else:
            buf = buf[:at]
    return bytes(buf)


def generate(seed: int, count: int) -> Iterator[list[bytes]]:
    """``count`` inputs, each split into packets: random bytes, mutated and hostile answers."""
    rng = random.Random(seed)
    corpus = VALID + HOSTILE
    for i in range(count):
        kind = i % 4
        if kind == 0:
            data = rng.randbytes(rng.randint(0, 512))
        elif kind == 1:
            data = rng.choice(HOSTILE)
        else:
            data = _mutate(rng, rng.choice(corpus))
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data), rng.choice([0, 1, 3, 16]))))
        if rng.random() < 0.05 and len(data) < 4096:
            cuts = list(range(len(data) + 1))  # one byte per packet
        edges = [0, *cuts, len(data)]
        yield [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


def run(seed: int, count: int) -> FuzzStats:
    """Parse every input; record outcomes and the slowest parse (seconds)."""
    stats = FuzzStats()
    for packets in generate(seed, count):
        stats.inputs += 1
        parser = AnswerParser()
        start = time.perf_counter()
        outcome = "incomplete"
        try:
            for packet in packets:
                if parser.feed(packet) is not None:
                    outcome = "answer"
                    break
        except MalformedAnswer:
            outcome = "malformed"
        stats.slowest = max(stats.slowest, time.perf_counter() - start)
        stats.by_outcome[outcome] = stats.by_outcome.get(outcome, 0) + 1
    stats.answers = stats.by_outcome.get("answer", 0)
    stats.malformed = stats.by_outcome.get("malformed", 0)
    stats.incomplete = stats.by_outcome.get("incomplete", 0)
    return stats
