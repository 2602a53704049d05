"""Joins two migrations written in parallel: subscriptions/presence and the planning ledger.

Neither touches the other's tables, so the order between them does not matter.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("wsgateway", "0009_channel_subscriptions_presence"),
        ("wsgateway", "0009_fanout_planning_requests"),
    ]

    operations: list[migrations.operations.base.Operation] = []
