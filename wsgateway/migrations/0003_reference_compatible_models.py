# Schema additions for the reference-compatible models (0004 moves the data, 0005 drops the old
# columns). Three migrations, not one: PostgreSQL refuses to ALTER a table in the transaction
# that changed its rows while deferred foreign-key checks are pending.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import wsgateway.models

STATUS_CHOICES = [
    ("pending", "Pending"),
    ("creating", "Creating"),
    ("api_created", "API created"),
    ("routes_created", "Routes created"),
    ("deployed", "Deployed"),
    ("domain_created", "Custom domain created"),
    ("mapped", "Custom domain mapped"),
    ("queued", "Queued"),
    ("failed", "Failed"),
    ("deleted", "Deleted from AWS"),
]


def status_field(help_text: str) -> models.CharField:
    return models.CharField(
        choices=STATUS_CHOICES,
        default="pending",
        help_text=help_text,
        max_length=20,
        verbose_name="provisioning status",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("wsgateway", "0002_channel_permission_global_unique"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChannelPermissionRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "channel_permission",
                    models.ForeignKey(
                        help_text="The channel this rule opens.",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rules",
                        to="wsgateway.channelpermission",
                        verbose_name="channel permission",
                    ),
                ),
                (
                    "permissions",
                    models.ManyToManyField(
                        blank=True,
                        help_text="The user must have all of these permissions. Add another rule for an alternative.",
                        related_name="channel_permission_rules",
                        to="auth.permission",
                        verbose_name="permissions",
                    ),
                ),
            ],
            options={
                "verbose_name": "channel permission rule",
                "verbose_name_plural": "channel permission rules",
                "ordering": ["pk"],
            },
        ),
        migrations.AddField(
            model_name="channelpermission",
            name="description",
            field=models.CharField(
                blank=True,
                default="",
                help_text="A note for administrators.",
                max_length=255,
                verbose_name="description",
            ),
        ),
        migrations.AddField(
            model_name="channelpermission",
            name="created_on",
            field=models.DateTimeField(
                auto_now_add=True,
                default=django.utils.timezone.now,
                help_text="When the row was created.",
                verbose_name="created on",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="channelpermission",
            name="updated_on",
            field=models.DateTimeField(
                auto_now=True, help_text="When the row last changed.", verbose_name="updated on"
            ),
        ),
        migrations.AddField(
            model_name="websockettoken",
            name="auth_hash",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The user's session auth hash when the token was issued; the socket keeps it.",
                max_length=128,
                verbose_name="auth hash",
            ),
        ),
        migrations.AlterField(
            model_name="apigateway",
            name="provisioning_status",
            field=status_field(
                "How far provisioning in AWS has got, or where the current run is. Runs are resumable: "
                "enqueueing the operation again continues from what exists."
            ),
        ),
        migrations.AlterField(
            model_name="apigatewayadditionalroute",
            name="provisioning_status",
            field=status_field("Where this route's provisioning is."),
        ),
        migrations.AlterField(
            model_name="channelpermission",
            name="access",
            field=models.CharField(
                choices=[
                    ("allow_all", "Allow all"),
                    ("superuser_only", "Super admin only"),
                    ("staff_only", "Staff only"),
                    ("permissions", "Requires Django permissions"),
                    ("authenticated", "Authenticated users"),
                ],
                default="allow_all",
                help_text="Who may join. The rules are used only for 'Requires Django permissions'.",
                max_length=20,
                verbose_name="access",
            ),
        ),
        migrations.AlterField(
            model_name="channelpermission",
            name="channel_name",
            field=models.CharField(
                help_text="The exact channel name this row applies to, on every gateway.",
                max_length=128,
                validators=[wsgateway.models._validate_channel_name],
                verbose_name="channel name",
            ),
        ),
    ]
