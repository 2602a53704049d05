"""Template tags for pages that open a socket.

::

    {% load wsgateway_tags %}
    {% wsgateway_js %}                       {# <script src=".../wsgateway/wsgateway.js"> #}
    {% wsgateway_config websocket_config %}  {# <script id="wsgateway-config" type="application/json"> #}
    <script>
      var socket = WsGateway.fromConfig(JSON.parse(
        document.getElementById("wsgateway-config").textContent));
      socket.connect();
    </script>

``websocket_config`` is the dict :class:`wsgateway.mixins.WebSocketPageMixin` puts in the
context. The config is rendered with :func:`django.utils.html.json_script`, so channel names and
URLs are escaped for the inside of a ``<script>`` element.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.templatetags.static import static
from django.utils.html import format_html, json_script
from django.utils.safestring import SafeString

register = template.Library()

#: Path of the client inside the app's static files.
CLIENT_PATH = "wsgateway/wsgateway.js"


@register.simple_tag
def wsgateway_js_url() -> str:
    """The URL of the JS client (through ``STATICFILES_STORAGE``, so hashed names work)."""
    return static(CLIENT_PATH)


@register.simple_tag
def wsgateway_js() -> SafeString:
    """A ``<script>`` element loading the JS client (defines ``window.WsGateway``)."""
    return format_html('<script src="{}"></script>', static(CLIENT_PATH))


@register.simple_tag
def wsgateway_config(config: dict[str, Any], element_id: str = "wsgateway-config") -> SafeString:
    """The socket configuration as a JSON ``<script>`` element, for ``WsGateway.fromConfig``."""
    if not isinstance(config, dict):
        raise template.TemplateSyntaxError(
            "wsgateway_config expects the websocket_config dict of WebSocketPageMixin."
        )
    return json_script(config, element_id)
