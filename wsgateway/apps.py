"""Django app configuration."""

from django.apps import AppConfig


class WsGatewayConfig(AppConfig):
    """Registers wsgateway's system checks and connects every signal receiver, here and only here."""

    name = "wsgateway"
    verbose_name = "WebSocket gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.test.signals import setting_changed

        from wsgateway import checks, checks_deploy, conf, gateway_cache, receivers, schedule
        from wsgateway.provisioning import hooks

        checks.register()
        checks_deploy.register()
        # override_settings / the settings fixture: WSGATEWAY is validated again after a change.
        setting_changed.connect(conf.reload_settings, dispatch_uid="wsgateway.conf.reload_settings")
        # Logout, password change, deactivation close sockets; a deleted gateway's sessions end.
        receivers.connect()
        # ApiGateway saved or deleted: its cached lookup is dropped.
        gateway_cache.connect_invalidation()
        # post_migrate of this app: the beat schedule.
        schedule.connect()
        # A deleted additional route deletes its AWS route.
        hooks.connect_route_deletion()
