"""Issue 18: the connect token works on the default execute-api host, where a browser sends no
site cookie. The token alone proves the user and binds the socket to the Django session it was
issued for; a cookie, when one is sent, must be that session.

The browser here is a cookie jar: it logs in to Django over HTTP on ``localhost``, asks for a
token through the CSRF-protected token endpoint, and opens the socket on the emulator, which
listens on ``127.0.0.1``: a different host name, so the jar has no cookie for it (checked, not
assumed), exactly like a page on www.example.com and a socket on {api}.execute-api.{region}.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.utils import timezone
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.ingestion.conftest import ORIGIN, SECRET
from tests.waiting import wait_until
from wsgateway.emulator.server import EmulatorServer
from wsgateway.emulator.testing import create_websocket_api
from wsgateway.hashing import session_key_hash, token_hash
from wsgateway.models import ApiGateway, WebSocketSession, WebSocketToken

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class CookieBrowser:
    """A browser's cookie jar and the pages it loads from Django."""

    django_url: str
    jar: http.cookiejar.CookieJar

    @classmethod
    def logged_in(cls, django_url: str, username: str) -> CookieBrowser:
        User.objects.create_user(username, password=f"pw-{username}", is_staff=True)
        browser = cls(django_url, http.cookiejar.CookieJar())
        page = browser.request("/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert csrf is not None
        form = {"username": username, "password": f"pw-{username}", "csrfmiddlewaretoken": csrf.group(1)}
        browser.request("/admin/login/?next=/admin/", urllib.parse.urlencode(form).encode())
        assert browser.cookie(settings.SESSION_COOKIE_NAME), "the login set no session cookie"
        return browser

    def request(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> str:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        request = urllib.request.Request(self.django_url + path, data=data, headers=headers or {})  # noqa: S310
        with opener.open(request, timeout=10) as answer:
            return str(answer.read().decode())

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    @property
    def session_key(self) -> str:
        value = self.cookie(settings.SESSION_COOKIE_NAME)
        assert value is not None
        return value

    def token(self) -> str:
        """A token from the page's endpoint, as the JS client gets it (POST with CSRF)."""
        csrf = self.cookie(settings.CSRF_COOKIE_NAME) or ""
        answer = self.request("/ws-token/", b"", {"X-CSRFToken": csrf})
        return str(json.loads(answer)["token"])

    def cookies_for(self, url: str) -> str | None:
        """The Cookie header this browser sends with a request to ``url``."""
        request = urllib.request.Request(url.replace("ws://", "http://", 1))  # noqa: S310
        self.jar.add_cookie_header(request)
        return request.get_header("Cookie")

    def open_socket(self, url: str, cookie: str | None = None) -> Any:
        """The handshake a browser makes: its own cookies for that host (or ``cookie``) and Origin."""
        sent = cookie if cookie is not None else self.cookies_for(url)
        headers = {"Cookie": sent} if sent else {}
        return connect(url, origin=Origin(ORIGIN), additional_headers=headers, open_timeout=10)


@pytest.fixture
def socket_base(emulator: EmulatorServer, live_server: Any) -> Iterator[str]:
    """The emulated API's socket URL, its integrations pointing at the live Django's ``ws/``."""
    cache.clear()  # the gateway lookup cache must not outlive this test's database rows
    api = create_websocket_api(emulator.url, f"{live_server.url}/ws/", stage="production", secret=SECRET)
    ApiGateway.objects.create(
        api_name="cookieless", api_id=api.api_id, stage_name=api.stage, api_created=True
    )
    url = emulator.ws_url(api.api_id, api.stage)
    assert urllib.parse.urlsplit(url).hostname != urllib.parse.urlsplit(live_server.url).hostname
    yield url
    cache.clear()


@pytest.fixture
def alice(live_server: Any) -> CookieBrowser:
    return CookieBrowser.logged_in(live_server.url, "alice")


def refused_status(browser: CookieBrowser, url: str, cookie: str | None = None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        browser.open_socket(url, cookie)
    return int(refused.value.response.status_code)


def test_a_valid_token_alone_opens_the_socket_bound_to_its_session(
    socket_base: str, alice: CookieBrowser
) -> None:
    url = f"{socket_base}?token={alice.token()}"
    assert alice.cookies_for(url) is None  # the emulator's host gets none of Django's cookies
    with alice.open_socket(url):
        session = WebSocketSession.objects.get()
        assert session.connected and session.user is not None and session.user.username == "alice"
        # Bound server-side to the Django session the token was issued for.
        assert session.session_key_hash == session_key_hash(alice.session_key)
    wait_until(lambda: not WebSocketSession.objects.get().connected, 10, "the $disconnect")


def test_no_token_a_used_token_or_an_expired_token_is_refused(socket_base: str, alice: CookieBrowser) -> None:
    assert refused_status(alice, socket_base) == 401

    used = alice.token()
    with alice.open_socket(f"{socket_base}?token={used}"):
        pass
    assert refused_status(alice, f"{socket_base}?token={used}") == 401

    expired = alice.token()
    WebSocketToken.objects.filter(token=token_hash(expired)).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )
    assert refused_status(alice, f"{socket_base}?token={expired}") == 401
    assert refused_status(alice, f"{socket_base}?token=forged") == 401
    assert WebSocketSession.objects.count() == 1  # only the socket of the good token


def test_a_cookie_of_another_session_is_refused(
    socket_base: str, alice: CookieBrowser, live_server: Any
) -> None:
    mallory = CookieBrowser.logged_in(live_server.url, "mallory")
    token = alice.token()
    url = f"{socket_base}?token={token}"
    # A custom domain sharing the site's cookie domain does send a cookie: it must be the token's.
    wrong = f"{settings.SESSION_COOKIE_NAME}={mallory.session_key}"
    assert refused_status(alice, url, wrong) == 401
    assert not WebSocketSession.objects.exists()
    # The refusal consumed nothing: the same token still works with the right cookie.
    with alice.open_socket(url, f"{settings.SESSION_COOKIE_NAME}={alice.session_key}"):
        session = WebSocketSession.objects.get()
        assert session.session_key_hash == session_key_hash(alice.session_key)
