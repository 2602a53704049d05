# Drops what 0004 moved: channel permissions are global now (one row per channel name), their
# permissions live in ChannelPermissionRule.

from django.db import migrations, models

import wsgateway.models


class Migration(migrations.Migration):
    dependencies = [
        ("wsgateway", "0004_move_statuses_and_channel_permissions"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="channelpermission",
            name="wsgateway_channel_permission_unique",
        ),
        migrations.RemoveConstraint(
            model_name="channelpermission",
            name="wsgateway_channel_permission_global_unique",
        ),
        migrations.RemoveField(model_name="channelpermission", name="api_gateway"),
        migrations.RemoveField(model_name="channelpermission", name="permissions"),
        migrations.RemoveField(model_name="channelpermission", name="require_all"),
        migrations.AlterField(
            model_name="channelpermission",
            name="channel_name",
            field=models.CharField(
                help_text="The exact channel name this row applies to, on every gateway.",
                max_length=128,
                unique=True,
                validators=[wsgateway.models._validate_channel_name],
                verbose_name="channel name",
            ),
        ),
        migrations.AlterModelOptions(
            name="channelpermission",
            options={
                "ordering": ["channel_name"],
                "verbose_name": "channel permission",
                "verbose_name_plural": "channel permissions",
            },
        ),
    ]
