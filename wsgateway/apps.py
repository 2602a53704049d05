"""Django app configuration."""

from django.apps import AppConfig


class WsGatewayConfig(AppConfig):
    """Registers wsgateway's system checks and connects every signal receiver, here and only here."""

    name = "wsgateway"
    verbose_name = "WebSocket gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.test.signals import setting_changed

        from wsgateway import checks, checks_deploy, conf, disconnect, gateway_cache, receivers, schedule
        from wsgateway.fanout import gone, lease
        from wsgateway.provisioning import chains, hooks
        from wsgateway.tasks import fanout as fanout_tasks
        from wsgateway.tasks import maintenance, recovery  # noqa: F401 (registers their tasks)
        from wsgateway.tasks import provisioning as provisioning_tasks

        # Every task module is imported above (wsgateway/tasks/__init__.py imports none).
        # The tasks depend on the logic packages (fanout/, provisioning/), never the other way
        # (tests/unit/test_import_direction.py): what the logic calls above itself is handed to
        # it here. A provisioning run is a chain of this step task; the lease keeper publishes
        # again, through the fan-out tasks, what a lost broker took; a 410 marks sessions gone,
        # which releases subscriptions and tells presence (which sends).
        chains.use_step_task(provisioning_tasks.provisioning_step)
        lease.use_republisher(fanout_tasks.republish_lost)
        gone.use_marker(disconnect.mark_disconnected)
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
