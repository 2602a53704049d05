"""Keep connect tokens out of Django's development-server access log.

API Gateway forwards the client's query string, the one-time connect token included, on the
``$connect`` POST to Django. Django's ``runserver`` logs each request line whole on the
``django.server`` logger; :class:`WithoutQueryString` drops the query from that line, as the
project's gunicorn access-log format does (``%(U)s``). Wiring: docs/deploying.md, "Access logs".
"""

from __future__ import annotations

import logging
import re

_QUERY = re.compile(r"\?\S*")


def without_query_string(request_line: str) -> str:
    """``"POST /ws/$connect?token=… HTTP/1.1"`` → ``"POST /ws/$connect HTTP/1.1"``."""
    return _QUERY.sub("", request_line, count=1)


class WithoutQueryString(logging.Filter):
    """A logging filter for ``django.server``: the request line without its query string.

    Django's request handler logs ``'"%s" %s %s'`` with the request line as the first argument;
    other records on the logger pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            record.args = (without_query_string(args[0]), *args[1:])
        return True
