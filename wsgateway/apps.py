"""Django app configuration."""

from django.apps import AppConfig


class WsGatewayConfig(AppConfig):
    """Registers wsgateway's system checks and signal receivers."""

    name = "wsgateway"
    verbose_name = "WebSocket gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from wsgateway import checks, checks_deploy, signals

        checks.register()
        checks_deploy.register()
        signals.connect_receivers()
