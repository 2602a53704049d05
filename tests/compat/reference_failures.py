"""Why each published test of django-aws-api-gateway-websockets 4.1.0 fails against wsgateway.

The explicit, reviewed table that ``run_reference_tests.py`` judges a run by. Each failing test id
(``tests.<module>.<Class>::<test>``, as the reference's sdist names it) is listed under the one
reason it fails for, per run mode (``plain``: the reference's own test settings; ``secret``:
``--with-gateway-secret``). A reason says which cause of docs/migrating.md it is:

- ``a``: the reference calls AWS synchronously where wsgateway enqueues the call for a worker;
- ``b``: the test patches or calls a private helper or a module-level name wsgateway does not have;
- ``c``: a difference listed in docs/migrating.md.

A reason also states what the failure must look like, so the table cannot quietly absorb a new
kind of failure: the exception class the test fails with, and for a missing name, which
attribute the ``AttributeError`` names. A failure whose id is not listed for the mode, or that
does not look like its reason says, is reported as unexplained. A listed test that passes is
reported as fixed, so the table can be trimmed.

Only test ids are kept here, never the reference's code, tests or prose.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """Why a group of reference tests fails, and what such a failure looks like."""

    cause: str
    why: str
    #: Exception class names (without module) a failure for this reason may show.
    raises: frozenset[str] = frozenset({"AssertionError"})
    #: For an ``AttributeError``: the attribute names the error may name.
    missing: frozenset[str] = frozenset()


def _names(*names: str) -> frozenset[str]:
    return frozenset(names)


REASONS: dict[str, Reason] = {
    # ---- (a) AWS is called by a worker, after the commit
    "aws-call-in-worker": Reason(
        "a",
        "expects the mocked boto3 client to be called (or the admin's success message that follows"
        " the call) inside save(), delete(), an admin action or a sync; wsgateway enqueues the call"
        " and a worker makes it after the commit",
    ),
    "aws-error-in-worker": Reason(
        "a",
        "expects the AWS error (or its warning log) from the call itself; the worker meets the error"
        " and records it on the row (last_error) and in the run's handle",
    ),
    "handle-not-result": Reason(
        "a",
        "expects what AWS answered (responses, a change list, client arguments) as the return value;"
        " send_message() and the sync methods return a handle of the enqueued work",
        raises=_names("AssertionError", "AttributeError", "TypeError"),
    ),
    "worker-writes-rows": Reason(
        "a",
        "expects the rows the AWS call writes (deployed flags, AWS ids, gone sessions, synced values)"
        " right after the call; the worker writes them when it has made the call",
        raises=_names("AssertionError", "DoesNotExist", "KeyError"),
    ),
    # ---- (b) private helpers and patch targets wsgateway does not have
    "private-view-helper": Reason(
        "b",
        "calls or patches a private method of the reference's WebSocketView; wsgateway's view is"
        " built from other parts (wsgateway/views/), docs/migrating.md 'Private helpers are gone'",
        raises=_names("AttributeError"),
        missing=_names(
            "_add_user_to_request",
            "_allowed_apigateway",
            "_check_allowed_hosts",
            "_check_host_is_in_origin",
            "_debug",
            "_expected_connection_headers",
            "_expected_headers",
            "_expected_useragent",
            "_get_channel_name",
            "_get_client_ip",
            "_load_session",
            "_validate_connection_id",
        ),
    ),
    "views-module-import": Reason(
        "b",
        "patches a name the reference's views module imported for its own use (JsonResponse,"
        " HttpResponseBadRequest, mail_admins, F, warnings); wsgateway.views does not use it",
        raises=_names("AttributeError"),
        missing=_names("JsonResponse", "HttpResponseBadRequest", "mail_admins", "F", "warnings"),
    ),
    "gateway-private-step": Reason(
        "b",
        "patches or calls the reference's private provisioning methods of ApiGateway"
        " (_claim_for_creation, _create_routes, _record, ...); wsgateway provisions in worker steps"
        " (wsgateway/provisioning/steps.py) and has no such methods",
        raises=_names("AttributeError"),
        missing=_names(
            "_claim_for_creation",
            "_release_claim",
            "_create_api",
            "_create_api_mapping",
            "_create_domain_name",
            "_create_routes",
            "_create_stage_and_deploy",
            "_existing_route_keys",
            "_record",
        ),
    ),
    "command-client": Reason(
        "b",
        "patches get_boto3_client in the updateApiGatewayIntegrations module; the command enqueues"
        " a push and has no client of its own",
        raises=_names("AttributeError"),
        missing=_names("get_boto3_client"),
    ),
    "view-bypassed-collaborator": Reason(
        "b",
        "patches a model class or method the reference's view went through (views.WebSocketSession,"
        " WebSocketToken.validate_and_consume, ConnectionRateLimit.check_rate_limit/record_attempt)"
        " or hands the view a stand-in request.session; wsgateway's view does that work in single"
        " statements (wsgateway/views/live_session.py, wsgateway/ratelimit.py), so the stand-in is"
        " never consulted",
        raises=_names("AssertionError", "DatabaseOperationForbidden"),
    ),
    # ---- (c) differences listed in docs/migrating.md
    "no-secret-events": Reason(
        "c",
        "no gateway secret is configured (the reference's test settings, or a test's own WEBSOCKETS"
        " without one) and DEBUG is off: wsgateway refuses every event with 403",
        raises=_names("AssertionError"),
    ),
    "no-secret-provisioning": Reason(
        "c",
        "no gateway secret is configured: wsgateway refuses to create or push integrations that"
        " would reach Django without one",
        raises=_names("AssertionError", "ProvisioningError", "ApiGatewaySyncError", "ImproperlyConfigured"),
    ),
    "check-ids": Reason(
        "c",
        "system check ids and registration differ (docs/migrating.md, the check table); a missing"
        " secret or region is an error, not a deploy warning",
        raises=_names("AssertionError", "SystemCheckError"),
    ),
    "view-answers": Reason(
        "c",
        "the view's answers differ as the table 'Answers' lists: JSON bodies, 401 for tokens,"
        " 403 for origins and inactive users, 404/410 for an unknown gateway or a closed session,"
        " 429, {} for a $connect, 200 for an unknown $disconnect, no User-Agent check",
    ),
    "view-settings-attributes": Reason(
        "c",
        "reads a class attribute of the reference's view that wsgateway replaced by settings or"
        " dropped (required-header lists, MAX_BODY_SIZE, MAX_CHANNEL_NAME_LENGTH,"
        " SEND_EXCEPTION_MAIL, debug_log)",
        raises=_names("AttributeError"),
        missing=_names(
            "required_headers",
            "required_connection_headers",
            "additional_required_headers",
            "SEND_EXCEPTION_MAIL",
            "MAX_CHANNEL_NAME_LENGTH",
            "MAX_BODY_SIZE",
            "debug_log",
        ),
    ),
    "channel-names": Reason(
        "c",
        "channel names may contain inner spaces in wsgateway ('bad channel' is valid)",
        raises=_names("AssertionError", "AttributeError"),
    ),
    "cheaper-queries": Reason("c", "the view needs fewer queries than the reference's count"),
    "disconnect-drops-subscriptions": Reason(
        "c", "$disconnect also deletes the socket's channel subscriptions: 2 queries, not 1"
    ),
    "send-writes-its-ledger-row": Reason(
        "c", "a send writes its fan-out ledger row before publishing its task: 1 query, not 0"
    ),
    "handler-required": Reason(
        "c",
        "a message without a handler name is refused (EventRefused → 400), not NotImplementedError",
        raises=_names("EventRefused"),
    ),
    "handler-list": Reason(
        "c", "the automatic handler list differs: only methods defined on the subclass are handlers"
    ),
    "tokens-hashed": Reason("c", "connect tokens are stored hashed; the admin shows '(stored hashed)'"),
    "token-view": Reason(
        "c",
        "the token view has its own CSRF protection and answers 401/429 (JSON), not 403 text",
        raises=_names("AssertionError", "DoesNotExist"),
    ),
    "provisioning-status-read-only": Reason(
        "c", "provisioning_status is read-only in the admin (the worker owns it)"
    ),
    "region-required": Reason(
        "c",
        "a missing AWS region setting raises RegionNotConfiguredError (a RuntimeError and an"
        " ImproperlyConfigured) with wsgateway's own wording",
        raises=_names("RegionNotConfiguredError", "AssertionError"),
    ),
    "sync-reads-the-row": Reason(
        "c",
        "the synchronous client= forms (create_route, sync_to_aws, the integration parameters) and"
        " change_channel() work on saved rows: they read the gateway's row and write by primary key,"
        " so an in-memory row (or a SimpleTestCase, which forbids queries) is refused",
        raises=_names("DatabaseOperationForbidden", "DoesNotExist"),
    ),
    "route-deployed-by-deployment": Reason(
        "c",
        "an additional route is marked deployed once a deployment serves it; create_route(client,"
        " deploy=False) records the route's AWS ids but leaves deployed false",
    ),
    "logout-closes-through-worker": Reason(
        "c",
        "logging out enqueues the close of the sockets; the worker marks the rows, not the request",
    ),
}

#: Failing in both run modes, for the same reason.
_BOTH_MODES: dict[str, tuple[str, ...]] = {
    "aws-call-in-worker": (
        "tests.test_admin.ApiGatewayProvisioningAdminTestCase::test_the_action_resumes_a_half_built_gateway",
        "tests.test_admin.CreatCustomDomainSimpleTestCase::test_api_created_but_custom_domain_not_created",
        "tests.test_admin.CreateApiGatewaySimpleTestCase::test_api_not_yet_created",
        "tests.test_admin.WebSocketAdminSecurityTestCase::test_create_api_gateway_action_reports_success_when_it_creates",
        "tests.test_models.AdditionalRouteSyncsToAwsTestCase::test_a_route_missing_in_aws_is_created_on_update",
        "tests.test_models.AdditionalRouteSyncsToAwsTestCase::test_a_route_queryset_delete_removes_each_route_from_aws",
        "tests.test_models.AdditionalRouteSyncsToAwsTestCase::test_aws_not_found_on_delete_is_ignored",
        "tests.test_models.AdditionalRouteSyncsToAwsTestCase::test_changing_the_integration_url_updates_the_integration",
        "tests.test_models.AdditionalRouteSyncsToAwsTestCase::test_changing_the_route_key_renames_the_route",
        "tests.test_models.AdditionalRouteSyncsToAwsTestCase::test_deleting_a_route_removes_it_from_aws_and_deploys",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_a_queryset_delete_removes_each_route_in_aws_after_the_commit",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_a_route_update_calls_aws_only_when_the_transaction_commits",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_creating_a_route_still_calls_aws_at_once",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_deleting_a_route_removes_it_in_aws_after_the_commit_once",
        "tests.test_models.PushChangesSettingTestCase::test_a_new_route_is_still_created_in_aws_when_saved",
        "tests.test_models.PushChangesSettingTestCase::test_push_to_aws_true_overrides_the_setting_on_delete",
        "tests.test_models.WebSocketSessionIntegrationTestCase::test_send_message_boto3_gone_away",
        "tests.test_models.WebSocketSessionIntegrationTestCase::test_send_message_builds_the_client_once_for_a_gateway",
        "tests.test_models.WebSocketSessionIntegrationTestCase::test_send_message_return_response_on_success",
        "tests.test_models.WebSocketSessionQuerySetBranchTestCase::test_send_message_reuses_client_for_multiple_connected_sessions",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_sends_to_connected_sessions_only",
        "tests.test_sync.PullGatewayTestCase::test_a_client_is_created_when_none_is_given",
    ),
    "aws-error-in-worker": (
        "tests.test_models.AdditionalRouteSyncsToAwsTestCase::test_an_aws_failure_keeps_the_local_change_and_raises",
        "tests.test_models.AdditionalRouteSyncsToAwsTestCase::test_an_aws_failure_on_delete_keeps_the_route",
        "tests.test_models.AwsCallsOutsideATransactionTestCase::test_a_route_delete_changes_aws_first_and_a_failure_keeps_the_route",
        "tests.test_models.PushChangesSettingTestCase::test_a_failure_creating_a_route_raises_the_original_error",
        "tests.test_models.PushChangesSettingTestCase::test_when_on_a_failure_creating_a_route_raises_the_sync_error",
        "tests.test_models.WebSocketSessionIntegrationTestCase::test_send_message_raises_other_boto3_exceptions",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_does_not_abort_on_non_gone_client_errors",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_skips_sessions_with_no_gateway_and_warns_once",
        "tests.test_sync.PullGatewayTestCase::test_other_stage_errors_are_raised_as_sync_errors",
    ),
    "channel-names": (
        "tests.test_models.ChannelPermissionAccessSimpleTestCase::test_channel_name_validator_matches_the_view_pattern",
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_change_channel_does_not_call_the_hook_for_an_invalid_channel",
        "tests.test_views.WebSocketViewClientInputTestCase::test_change_channel_rejects_missing_non_string_and_invalid_channels",
    ),
    "check-ids": (
        "tests.test_checks.AllowedIntegrationHostsCheckSimpleTestCase::test_anything_else_is_an_error_that_does_not_show_the_value",
        "tests.test_checks.GatewaySecretChecksSimpleTestCase::test_a_non_string_secret_is_an_error",
        "tests.test_checks.GatewaySecretChecksSimpleTestCase::test_a_secret_with_a_trailing_newline_is_an_error_that_says_so",
        "tests.test_checks.GatewaySecretChecksSimpleTestCase::test_an_invalid_secret_is_an_error",
        "tests.test_checks.GatewaySecretChecksSimpleTestCase::test_deploy_warning_when_no_secret_is_set",
        "tests.test_checks.GatewaySecretChecksSimpleTestCase::test_the_checks_are_registered",
        "tests.test_checks.WebSocketsSettingChecksSimpleTestCase::test_a_dictionary_is_required",
        "tests.test_checks.WebSocketsSettingChecksSimpleTestCase::test_a_value_that_is_not_a_positive_integer_is_an_error",
        "tests.test_checks.WebSocketsSettingChecksSimpleTestCase::test_an_unknown_key_is_a_warning_that_names_the_key_not_the_value",
        "tests.test_checks.WebSocketsSettingChecksSimpleTestCase::test_push_changes_to_aws_must_be_true_or_false",
        "tests.test_checks.WebSocketsSettingChecksSimpleTestCase::test_region_warning_under_deploy_when_no_region_is_set",
        "tests.test_checks.WebSocketsSettingChecksSimpleTestCase::test_the_new_checks_are_registered",
        "tests.test_routing.RoutingSetupTestCase::test_the_project_passes_the_django_system_checks",
    ),
    "command-client": (
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_adds_the_secret_to_integrations_that_lack_it",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_an_aws_error_is_reported_and_other_gateways_still_run",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_an_invalid_secret_stops_the_command_before_calling_aws",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_dry_run_changes_nothing",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_follows_pagination",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_keeps_other_request_parameters",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_leaves_integrations_the_library_did_not_create_alone",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_pk_selects_one_gateway",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_removes_the_secret_when_none_is_configured",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_replaces_an_old_secret",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_skips_integrations_that_are_already_up_to_date",
        "tests.management.commands.test_updateApiGatewayIntegrations.UpdateApiGatewayIntegrationsTestCase::test_without_pk_every_created_gateway_is_used",
    ),
    "gateway-private-step": (
        "tests.test_models.ApiGatewayProvisioningIntegrationTestCase::test_a_run_that_cannot_record_the_new_api_stays_claimed",
        "tests.test_models.ApiGatewaySimpleTestCase::test__create_api",
        "tests.test_models.ApiGatewaySimpleTestCase::test__create_api_mapping",
        "tests.test_models.ApiGatewaySimpleTestCase::test__create_domain_name__no_hosted_zone_id",
        "tests.test_models.ApiGatewaySimpleTestCase::test__create_domain_name__with_hosted_zone_id",
        "tests.test_models.ApiGatewaySimpleTestCase::test__create_routes",
        "tests.test_models.ApiGatewaySimpleTestCase::test__create_routes_skips_route_keys_that_already_exist",
        "tests.test_models.ApiGatewaySimpleTestCase::test__create_stage_and_deploy",
        "tests.test_models.ApiGatewaySimpleTestCase::test__create_stage_and_deploy_does_not_ignore_other_errors",
        "tests.test_models.ApiGatewaySimpleTestCase::test__create_stage_and_deploy_ignores_an_existing_stage_only_when_told_to",
        "tests.test_models.ApiGatewaySimpleTestCase::test__existing_route_keys_follows_pagination",
        "tests.test_models.ApiGatewaySimpleTestCase::test__str___returns_api_name",
        "tests.test_models.ApiGatewaySimpleTestCase::test_a_failure_to_record_the_error_does_not_hide_the_original_error",
        "tests.test_models.ApiGatewaySimpleTestCase::test_a_row_registered_by_hand_needs_neither",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_custom_domain__as_expected",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_custom_domain__clienterror_raised",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_custom_domain__raises_valueerror_when_api_created_is_false",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_custom_domain__raises_valueerror_when_certificate_arn_is_not_set",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_custom_domain_does_nothing_when_already_mapped",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_custom_domain_resumes_at_the_mapping",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_gateway__no_errors",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_gateway__when__create_routes_raises_clienterror",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_gateway__when__create_stage_and_deploy_clienterror",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_gateway__when_api_already_created",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_gateway__when_create_api_raises_error",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_gateway_resumes_from_api_created_without_creating_the_api_again",
        "tests.test_models.ApiGatewaySimpleTestCase::test_create_gateway_resumes_from_routes_created_at_the_stage",
        "tests.test_models.ApiGatewaySimpleTestCase::test_effective_status_is_the_stored_status_once_provisioning_has_started",
        "tests.test_models.ApiGatewaySimpleTestCase::test_effective_status_treats_older_and_hand_registered_rows_as_complete",
        "tests.test_models.ApiGatewaySimpleTestCase::test_needs_api_creation_and_needs_custom_domain",
        "tests.test_models.GatewaySecretSettingSimpleTestCase::test_create_routes_adds_the_secret_to_every_integration",
    ),
    "handle-not-result": (
        "tests.test_admin.SyncActionsTestCase::test_sync_from_aws_reports_the_changes",
        "tests.test_admin.SyncActionsTestCase::test_sync_to_aws_reports_the_changes",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_configures_client_timeouts_retries_and_pool",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_pool_is_no_larger_than_recipient_count",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_posts_concurrently",
        "tests.test_sync.PullGatewayTestCase::test_matching_values_report_no_changes",
    ),
    "handler-list": (
        "tests.test_views.WebSocketViewSimpleTestCase::test_the_automatic_handler_list_leaves_out_things_that_are_not_plain_functions",
    ),
    "handler-required": (
        "tests.test_views.WebSocketViewRemainingSimpleTestCase::test_default_raises_not_implemented_error",
        "tests.test_views.WebSocketViewSimpleTestCase::test_default",
    ),
    "logout-closes-through-worker": (
        "tests.test_views.WebSocketViewClientInputTestCase::test_logging_out_closes_the_sessions_opened_under_that_login",
    ),
    "no-secret-events": (
        "tests.test_views.WebSocketViewConfiguredSettingsTestCase::test_a_fresh_token_is_accepted",
        "tests.test_views.WebSocketViewConfiguredSettingsTestCase::test_a_longer_configured_expiry_is_honoured",
        "tests.test_views.WebSocketViewConfiguredSettingsTestCase::test_a_shorter_configured_expiry_is_enforced",
        "tests.test_views.WebSocketViewConfiguredSettingsTestCase::test_a_token_older_than_the_default_expiry_is_refused",
        "tests.test_views.WebSocketViewGatewaySecretTestCase::test_without_a_configured_secret_no_header_is_needed",
    ),
    "no-secret-provisioning": (
        "tests.test_models.PushChangesSettingTestCase::test_a_value_that_is_not_true_or_false_means_on",
        "tests.test_models.PushChangesSettingTestCase::test_it_is_on_when_set_to_true",
        "tests.test_models.PushChangesSettingTestCase::test_it_is_on_when_the_setting_is_absent",
        "tests.test_models.PushChangesSettingTestCase::test_push_to_aws_true_overrides_the_setting_for_one_save",
        "tests.test_models.PushChangesSettingTestCase::test_sync_to_aws_still_works_when_the_setting_is_off",
    ),
    "private-view-helper": (
        "tests.test_views.WebSocketViewAdditionalIntegrationTestCase::test_get_channel_name_accepts_a_channel_as_long_as_the_column",
        "tests.test_views.WebSocketViewAdditionalIntegrationTestCase::test_get_channel_name_raises_value_error_for_invalid_channel",
        "tests.test_views.WebSocketViewAdditionalIntegrationTestCase::test_get_channel_name_raises_value_error_for_too_long_channel",
        "tests.test_views.WebSocketViewAdditionalIntegrationTestCase::test_get_channel_name_rejects_a_channel_longer_than_the_column",
        "tests.test_views.WebSocketViewAdditionalIntegrationTestCase::test_get_channel_name_uses_api_gateway_default",
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_message_after_a_password_change_closes_the_session",
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_message_for_a_deactivated_user_closes_the_session",
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_message_from_an_active_user_sets_the_user",
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_session_opened_before_the_hashes_existed_is_kept_for_an_active_user",
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_session_with_no_user_is_not_checked",
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_user_who_is_no_longer_active_is_found_without_a_second_query",
        "tests.test_views.WebSocketViewClientInputTestCase::test_the_session_is_not_loaded_again_when_dispatch_already_has_it",
        "tests.test_views.WebSocketViewClientInputTestCase::test_two_views_holding_the_same_session_both_count",
        "tests.test_views.WebSocketViewConsolidatedFinalCoverageTestCase::test_add_user_to_request_skips_invalid_connection_id",
        "tests.test_views.WebSocketViewConsolidatedFinalCoverageTestCase::test_dispatch_all_permissions_passes_and_calls_handler",
        "tests.test_views.WebSocketViewConsolidatedFinalCoverageTestCase::test_dispatch_all_permissions_take_precedence_over_any_permissions",
        "tests.test_views.WebSocketViewConsolidatedFinalCoverageTestCase::test_dispatch_any_permissions_passes_and_calls_handler",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_dispatch_denies_when_all_permissions_required_fail",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_dispatch_denies_when_any_permissions_required_fail",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_dispatch_falls_back_to_default_for_disallowed_handler",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_dispatch_returns_empty_json_when_handler_returns_none",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_dispatch_route_selection_key_present_but_route_handler_not_allowed",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_dispatch_uses_handler_selection_key",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_debug_sanitizes_and_truncates_message",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_get_client_ip_falls_back_to_remote_addr",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_get_client_ip_returns_default_for_invalid_ip",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_get_client_ip_uses_first_forwarded_ip",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_validate_connection_id_accepts_allowed_characters",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_validate_connection_id_rejects_empty_id",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_validate_connection_id_rejects_invalid_characters",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_validate_connection_id_rejects_long_id",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_add_user_to_request_ignores_a_disconnected_session",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_add_user_to_request_ignores_a_session_from_another_gateway",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_add_user_to_request_sets_user_for_connected_session",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_load_session_finds_connected_session_on_this_gateway",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_load_session_ignores_a_disconnected_session",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_load_session_ignores_a_session_from_another_gateway",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_load_session_returns_false_for_an_unknown_connection_id",
        "tests.test_views.WebSocketViewSimpleTestCase::test__add_user_to_request_when_session_not_found",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_allowed_hosts__when_host_is_allowed__return_true",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_allowed_hosts__when_host_is_not_allowed__return_false",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_host_is_in_origin__accepts_a_sub_domain_of_the_host",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_host_is_in_origin__accepts_the_same_host",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_host_is_in_origin__refuses_a_different_port",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_host_is_in_origin__refuses_a_look_alike_origin",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_host_is_in_origin__refuses_a_missing_origin_or_host",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_host_is_in_origin__refuses_an_origin_that_is_not_http_or_https",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_host_is_in_origin__when_it_is_not",
        "tests.test_views.WebSocketViewSimpleTestCase::test__check_host_is_in_origin__when_it_iss",
        "tests.test_views.WebSocketViewSimpleTestCase::test__debug_when_debug_is_false",
        "tests.test_views.WebSocketViewSimpleTestCase::test__debug_when_debug_is_true",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_connection_headers",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_headers",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_accepts_a_real_useragent_on_message_and_disconnect",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_connect_accepts_any_useragent_when_not_checked",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_connect_accepts_the_gateways_own_useragent",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_connect_honours_a_custom_prefix",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_connect_rejects_a_real_clients_useragent",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_connect_rejects_another_gateways_useragent",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_connect_requires_an_exact_match",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_connect_uses_the_pinned_gateway_id",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_connect_with_no_gateway_id_at_all_is_rejected",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_connect_without_a_registered_gateway_uses_the_header_id",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_does_not_fail_when_a_client_sends_no_useragent",
        "tests.test_views.WebSocketViewSimpleTestCase::test__expected_useragent_reads_the_route_from_the_arguments_too",
        "tests.test_views.WebSocketViewSimpleTestCase::test__get_channel_name",
        "tests.test_views.WebSocketViewSimpleTestCase::test__load_session",
        "tests.test_views.WebSocketViewSimpleTestCase::test_apigateway_check_when_db_record_does_not_match_header_and_class_attribute_is_not_set_return_false",
        "tests.test_views.WebSocketViewSimpleTestCase::test_apigateway_check_when_db_record_matches_header_and_class_attribute_is_not_set_return_true",
        "tests.test_views.WebSocketViewSimpleTestCase::test_apigateway_check_when_db_record_matches_header_and_the_class_attribute_return_true",
        "tests.test_views.WebSocketViewSimpleTestCase::test_apigateway_no_db_match_found_and_class_attribute_not_matched_return_false",
        "tests.test_views.WebSocketViewSimpleTestCase::test_apigateway_with_db_match_but_class_attribute_not_matched_return_false",
    ),
    "provisioning-status-read-only": (
        "tests.test_admin.ApiGatewayProvisioningAdminTestCase::test_provisioning_status_can_be_corrected_by_hand",
    ),
    "region-required": ("tests.test_models.GetBoto3ClientTestCase::test_region_name_is_required",),
    "send-writes-its-ledger-row": (
        "tests.test_models.WebSocketSessionIntegrationTestCase::test_send_message_uses_a_gateway_that_is_already_loaded",
    ),
    "sync-reads-the-row": (
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_a_route_that_is_not_saved_yet_is_marked_in_memory_only",
        "tests.test_models.GatewaySecretSettingSimpleTestCase::test_additional_route_integration_carries_the_secret",
        "tests.test_models.GatewaySecretSettingSimpleTestCase::test_additional_route_integration_has_no_secret_when_none_is_set",
        "tests.test_sync.PushGatewaySimpleTestCase::test_a_changed_base_url_repoints_the_three_default_integrations",
        "tests.test_sync.PushGatewaySimpleTestCase::test_a_changed_description_is_pushed_and_deployed",
        "tests.test_sync.PushGatewaySimpleTestCase::test_a_changed_name_is_pushed",
        "tests.test_sync.PushGatewaySimpleTestCase::test_a_changed_stage_description_deploys_without_other_calls",
        "tests.test_sync.PushGatewaySimpleTestCase::test_a_full_sync_of_a_matching_gateway_changes_nothing",
        "tests.test_sync.PushGatewaySimpleTestCase::test_a_full_sync_sends_only_the_api_values_that_differ",
        "tests.test_sync.PushGatewaySimpleTestCase::test_a_missing_default_route_is_created",
        "tests.test_sync.PushGatewaySimpleTestCase::test_additional_routes_are_not_read_for_a_field_change",
        "tests.test_sync.PushStageDescriptionTestCase::test_a_full_sync_deploys_a_changed_stage_description",
        "tests.test_sync.PushStageDescriptionTestCase::test_a_full_sync_with_the_same_stage_description_changes_nothing",
        "tests.test_views.WebSocketViewSimpleTestCase::test_change_channel_updates_websocket_session_channel_name",
    ),
    "token-view": (
        "tests.test_routing.TokenEndpointRoutingTestCase::test_a_logged_in_post_with_a_valid_csrf_token_returns_a_token",
        "tests.test_routing.TokenEndpointRoutingTestCase::test_an_anonymous_post_with_a_valid_csrf_token_is_refused",
        "tests.test_views.WebSocketTokenViewIntegrationTestCase::test_post_requires_authenticated_user",
        "tests.test_views.WebSocketTokenViewIntegrationTestCase::test_post_returns_forbidden_when_rate_limited",
        "tests.test_views.WebSocketViewConfiguredSettingsTestCase::test_the_token_rate_limit_setting_is_applied",
    ),
    "tokens-hashed": ("tests.test_admin.WebSocketTokenAdminSimpleTestCase::test_token_preview_masks_token",),
    "view-answers": (
        "tests.test_views.WebSocketViewConsolidatedFinalCoverageTestCase::test_missing_headers_debug_true_logs_expected_headers",
        "tests.test_views.WebSocketViewRemainingSimpleTestCase::test_handler_selection_key_missing_returns_generic_bad_request",
        "tests.test_views.WebSocketViewRemainingSimpleTestCase::test_invalid_useragent_returns_bad_request",
        "tests.test_views.WebSocketViewRemainingSimpleTestCase::test_route_selection_key_missing_returns_deprecated_bad_request",
        "tests.test_views.WebSocketViewSimpleTestCase::test_handler_selection_key_missing_missing",
        "tests.test_views.WebSocketViewSimpleTestCase::test_invalid_useragent",
        "tests.test_views.WebSocketViewSimpleTestCase::test_missing_headers",
    ),
    "view-bypassed-collaborator": (
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_refused_connect_records_a_failed_attempt",
        "tests.test_views.WebSocketViewSimpleTestCase::test_disconnect_is_scoped_to_the_calling_gateway",
    ),
    "view-settings-attributes": (
        "tests.test_views.WebSocketViewAdditionalIntegrationTestCase::test_max_channel_name_length_matches_the_database_column",
        "tests.test_views.WebSocketViewBodyParsingSimpleTestCase::test_send_exception_mail_keeps_its_original_default",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_setup_ignores_body_when_too_large",
        "tests.test_views.WebSocketViewSecuritySimpleTestCase::test_setup_uses_empty_body_for_invalid_json",
        "tests.test_views.WebSocketViewSimpleTestCase::test_additional_required_headers",
        "tests.test_views.WebSocketViewSimpleTestCase::test_default_required_connection_headers",
        "tests.test_views.WebSocketViewSimpleTestCase::test_default_required_headers",
        "tests.test_views.WebSocketViewSimpleTestCase::test_setup",
    ),
    "views-module-import": (
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_different_exception_or_view_gets_its_own_mail",
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_repeated_exception_mails_admins_once_for_each_interval",
        "tests.test_views.WebSocketViewClientInputTestCase::test_an_interval_of_zero_mails_every_time",
        "tests.test_views.WebSocketViewClientInputTestCase::test_bad_client_input_does_not_mail_admins_even_by_default",
        "tests.test_views.WebSocketViewClientInputTestCase::test_every_exception_is_still_logged_when_the_mail_is_held_back",
        "tests.test_views.WebSocketViewClientInputTestCase::test_handler_exception_does_not_mail_admins_when_disabled",
        "tests.test_views.WebSocketViewClientInputTestCase::test_handler_exception_mails_admins_by_default",
        "tests.test_views.WebSocketViewGatewaySecretTestCase::test_a_refused_request_does_not_email_admins",
        "tests.test_views.WebSocketViewSimpleTestCase::test__add_user_to_request_when_session_found",
        "tests.test_views.WebSocketViewSimpleTestCase::test_connect",
        "tests.test_views.WebSocketViewSimpleTestCase::test_connect__additional_connection_checks_returns_false",
        "tests.test_views.WebSocketViewSimpleTestCase::test_connect__missing_expected_headers",
        "tests.test_views.WebSocketViewSimpleTestCase::test_connect__with_host_not_in_origin",
        "tests.test_views.WebSocketViewSimpleTestCase::test_connect__with_invalid_host",
        "tests.test_views.WebSocketViewSimpleTestCase::test_dispatch__allowed_api_gateway_fails",
        "tests.test_views.WebSocketViewSimpleTestCase::test_dispatch__handler_selection_key_missing",
        "tests.test_views.WebSocketViewSimpleTestCase::test_dispatch__route_is_connect",
        "tests.test_views.WebSocketViewSimpleTestCase::test_dispatch__route_is_custom__but_useragent_is_unexpected",
        "tests.test_views.WebSocketViewSimpleTestCase::test_dispatch__route_is_custom__useragent_is_expected",
        "tests.test_views.WebSocketViewSimpleTestCase::test_dispatch__route_is_disconnect__when_useragent_is_expected",
        "tests.test_views.WebSocketViewSimpleTestCase::test_dispatch__route_is_disconnect__when_useragent_is_not_expected",
        "tests.test_views.WebSocketViewSimpleTestCase::test_dispatch__when_http_method_is_not_allowed",
        "tests.test_views.WebSocketViewSimpleTestCase::test_dispatch__with_missing_headers",
        "tests.test_views.WebSocketViewSimpleTestCase::test_route_selection_key_missing",
    ),
    "worker-writes-rows": (
        "tests.test_models.AdditionalRouteSyncsToAwsTestCase::test_creating_a_route_stores_the_aws_ids",
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_a_new_route_on_a_deployed_gateway_is_deployed_and_the_deployment_id_kept",
        "tests.test_models.ApiGatewayAdditionalRouteIntegrationTestCase::test_adding_route_to_gateway_with_deployment_id_and_deployed_is_false",
        "tests.test_models.WebSocketSessionGoneWritesTestCase::test_instance_send_message_gone_does_not_overwrite_other_fields",
        "tests.test_models.WebSocketSessionGoneWritesTestCase::test_instance_send_message_gone_uses_one_write_and_refreshes_updated_on",
        "tests.test_models.WebSocketSessionIntegrationTestCase::test_send_message_reads_only_the_gateway_columns_it_needs",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_marks_all_gone_sessions_in_one_update",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_marks_gone_connections_as_disconnected",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_uses_each_sessions_own_gateway",
        "tests.test_models.WebSocketSessionQuerySetIntegrationTestCase::test_send_message_with_one_worker_posts_in_order",
        "tests.test_sync.PullGatewayTestCase::test_a_local_route_missing_in_aws_is_kept_and_marked_not_deployed",
        "tests.test_sync.PullGatewayTestCase::test_a_local_route_takes_the_remote_url_and_key",
        "tests.test_sync.PullGatewayTestCase::test_a_route_in_aws_at_a_host_that_is_not_allowed_is_still_recorded",
        "tests.test_sync.PullGatewayTestCase::test_a_route_only_in_aws_is_added_locally_as_deployed",
        "tests.test_sync.PullGatewayTestCase::test_a_successful_sync_clears_the_last_error",
        "tests.test_sync.PullGatewayTestCase::test_remote_values_replace_the_local_ones_without_calling_aws_to_change",
    ),
}

#: Failing only with the reference's own test settings (no gateway secret).
_PLAIN_ONLY: dict[str, tuple[str, ...]] = {
    "no-secret-events": (
        "tests.test_routing.WebSocketViewRoutingTestCase::test_a_message_for_a_closed_session_is_refused_through_the_stack",
        "tests.test_routing.WebSocketViewRoutingTestCase::test_a_message_is_handled_without_a_csrf_token",
        "tests.test_routing.WebSocketViewRoutingTestCase::test_a_request_naming_an_unregistered_gateway_is_refused",
        "tests.test_routing.WebSocketViewRoutingTestCase::test_a_request_without_the_gateway_headers_is_refused",
        "tests.test_routing.WebSocketViewRoutingTestCase::test_disconnect_is_handled_through_the_stack",
        "tests.test_views.WebSocketTokenViewIntegrationTestCase::test_post_creates_session_when_missing",
        "tests.test_views.WebSocketTokenViewIntegrationTestCase::test_post_returns_token_json",
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_connect_creates_the_session_when_can_join_channel_returns_true",
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_connect_does_not_check_view_permissions_by_default",
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_connect_enforces_all_permissions_required_when_opted_in",
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_connect_enforces_permissions_required_when_opted_in",
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_connect_is_not_checked_by_the_hook_for_an_invalid_channel",
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_connect_is_refused_when_can_join_channel_returns_false",
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_connect_passes_the_gateway_default_channel_to_the_hook",
        "tests.test_views.WebSocketViewChannelPermissionTestCase::test_a_channel_with_no_row_is_open_by_default",
        "tests.test_views.WebSocketViewChannelPermissionTestCase::test_allow_all_channel_admits_anonymous_users",
        "tests.test_views.WebSocketViewChannelPermissionTestCase::test_can_join_channel_override_can_add_to_the_model_checks",
        "tests.test_views.WebSocketViewChannelPermissionTestCase::test_get_channel_permission_can_be_overridden",
        "tests.test_views.WebSocketViewChannelPermissionTestCase::test_permissions_channel_uses_the_rules",
        "tests.test_views.WebSocketViewChannelPermissionTestCase::test_staff_only_channel",
        "tests.test_views.WebSocketViewChannelPermissionTestCase::test_superuser_only_channel",
        "tests.test_views.WebSocketViewChannelPermissionTestCase::test_unlisted_channels_can_be_refused",
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_message_costs_three_queries",
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_message_counts_one_request",
        "tests.test_views.WebSocketViewClientInputTestCase::test_connect_stores_the_hashes_that_tie_the_session_to_the_login",
        "tests.test_views.WebSocketViewClientInputTestCase::test_connect_with_invalid_channel_records_failed_attempt",
        "tests.test_views.WebSocketViewClientInputTestCase::test_connect_with_invalid_channel_returns_400_without_consuming_token",
        "tests.test_views.WebSocketViewClientInputTestCase::test_disconnect_for_unknown_connection_returns_400",
        "tests.test_views.WebSocketViewClientInputTestCase::test_disconnect_marks_known_session_disconnected",
        "tests.test_views.WebSocketViewClientInputTestCase::test_dispatch_answers_a_message_from_a_deactivated_user_with_400",
        "tests.test_views.WebSocketViewClientInputTestCase::test_dispatch_disconnect_for_unknown_connection_does_not_raise",
        "tests.test_views.WebSocketViewClientInputTestCase::test_dispatch_runs_the_handler_for_a_message_from_an_active_user",
        "tests.test_views.WebSocketViewClientInputTestCase::test_dispatch_with_non_object_body_returns_400",
        "tests.test_views.WebSocketViewConsolidatedFinalCoverageTestCase::test_connect_success_when_rate_limit_disabled_does_not_check_or_record_attempt",
        "tests.test_views.WebSocketViewConsolidatedFinalCoverageTestCase::test_connect_success_with_valid_token_sets_request_user",
        "tests.test_views.WebSocketViewPartialWritesTestCase::test_disconnect_changes_only_the_connected_flag_in_one_query",
        "tests.test_views.WebSocketViewPartialWritesTestCase::test_disconnect_for_an_unknown_connection_is_a_400_and_writes_nothing",
        "tests.test_views.WebSocketViewPartialWritesTestCase::test_disconnect_refreshes_updated_on",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_creates_session_when_successful_without_token",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_additional_checks_fail",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_connection_headers_missing",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_host_is_not_allowed",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_host_is_not_in_origin",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_rate_limited",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_token_enabled_and_session_missing",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_token_is_invalid",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_success_with_rate_limiting_disabled_skips_success_record_attempt",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_valid_token_branch_with_plain_truthy_user_mock",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_disconnect_marks_session_disconnected",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_connect_accepts_well_formed_connection_id",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_connect_rejects_malformed_connection_id",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_dispatch_rejects_a_message_for_a_disconnected_session",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_dispatch_runs_handler_for_a_connected_session",
        "tests.test_views.WebSocketViewSimpleTestCase::test_disconnect",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_a_connect_without_a_useragent_is_refused_not_an_error",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_a_message_with_a_real_useragent_is_handled",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_a_message_with_a_real_useragent_is_handled_when_the_view_is_pinned",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_a_message_without_a_useragent_is_refused_by_the_header_check",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_connect_with_a_browsers_useragent_creates_the_session_by_default",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_connect_with_a_real_useragent_is_refused_when_the_check_is_on",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_connect_with_the_gateway_useragent_creates_the_session",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_disconnect_with_a_real_useragent_is_handled",
    ),
    "no-secret-provisioning": (
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_a_route_that_already_exists_in_aws_is_marked_deployed_when_resuming",
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_create_gateway_marks_its_additional_routes_deployed",
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_create_route_marks_deployed_without_saving_through_save",
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_create_route_refreshes_updated_on",
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_editing_a_route_after_create_gateway_does_not_create_it_again",
        "tests.test_models.ApiGatewayCreateGatewayResultTestCase::test_create_gateway_returns_true_when_it_creates_the_gateway",
        "tests.test_models.ApiGatewayCreateGatewayResultTestCase::test_create_gateway_target_has_a_single_slash",
        "tests.test_models.ApiGatewayProvisioningIntegrationTestCase::test_a_concurrent_run_does_not_create_a_second_api",
        "tests.test_models.ApiGatewayProvisioningIntegrationTestCase::test_a_failure_before_the_api_exists_lets_the_next_run_start_again",
        "tests.test_models.ApiGatewayProvisioningIntegrationTestCase::test_a_failure_part_way_keeps_the_api_id_and_shows_the_status",
        "tests.test_models.ApiGatewayProvisioningIntegrationTestCase::test_a_second_run_resumes_and_finishes",
        "tests.test_models.ApiGatewaySaveSyncsToAwsTestCase::test_an_aws_failure_keeps_the_local_change_and_raises",
        "tests.test_models.ApiGatewaySaveSyncsToAwsTestCase::test_changing_the_base_url_repoints_the_default_routes",
        "tests.test_models.ApiGatewaySaveSyncsToAwsTestCase::test_changing_the_description_updates_the_api_and_deploys",
        "tests.test_models.ApiGatewaySaveSyncsToAwsTestCase::test_saving_twice_pushes_a_change_once",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_a_failure_at_commit_keeps_the_local_change_and_is_raised",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_a_gateway_save_calls_aws_only_when_the_transaction_commits",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_a_rolled_back_save_never_calls_aws",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_collected_failures_are_not_raised_and_every_call_runs",
        "tests.test_models.AwsCallsOutsideATransactionTestCase::test_a_gateway_save_calls_aws_at_once",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_a_changed_url_is_pushed_and_the_ids_are_stored",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_a_matching_gateway_is_not_deployed_again",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_a_renamed_route_key_is_pushed_using_the_stored_id",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_a_route_missing_in_aws_is_created",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_routes_only_in_aws_are_left_alone",
    ),
}

#: Failing only with ``--with-gateway-secret``.
_SECRET_ONLY: dict[str, tuple[str, ...]] = {
    "aws-call-in-worker": (
        "tests.test_models.ApiGatewayProvisioningIntegrationTestCase::test_a_concurrent_run_does_not_create_a_second_api",
        "tests.test_models.ApiGatewaySaveSyncsToAwsTestCase::test_changing_the_base_url_repoints_the_default_routes",
        "tests.test_models.ApiGatewaySaveSyncsToAwsTestCase::test_changing_the_description_updates_the_api_and_deploys",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_a_gateway_save_calls_aws_only_when_the_transaction_commits",
        "tests.test_models.AwsCallsOutsideATransactionTestCase::test_a_gateway_save_calls_aws_at_once",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_a_changed_url_is_pushed_and_the_ids_are_stored",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_a_renamed_route_key_is_pushed_using_the_stored_id",
    ),
    "aws-error-in-worker": (
        "tests.test_models.ApiGatewayProvisioningIntegrationTestCase::test_a_failure_before_the_api_exists_lets_the_next_run_start_again",
        "tests.test_models.ApiGatewayProvisioningIntegrationTestCase::test_a_failure_part_way_keeps_the_api_id_and_shows_the_status",
        "tests.test_models.ApiGatewayProvisioningIntegrationTestCase::test_a_second_run_resumes_and_finishes",
        "tests.test_models.ApiGatewaySaveSyncsToAwsTestCase::test_an_aws_failure_keeps_the_local_change_and_raises",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_a_failure_at_commit_keeps_the_local_change_and_is_raised",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_collected_failures_are_not_raised_and_every_call_runs",
        "tests.test_models.AwsCallsAfterCommitTestCase::test_collecting_errors_outside_the_block_does_not_leak",
        "tests.test_models.AwsCallsOutsideATransactionTestCase::test_a_failure_reaches_the_caller_and_keeps_the_change",
    ),
    "channel-names": (
        "tests.test_views.WebSocketViewChannelAuthorisationTestCase::test_connect_is_not_checked_by_the_hook_for_an_invalid_channel",
    ),
    "disconnect-drops-subscriptions": (
        "tests.test_views.WebSocketViewPartialWritesTestCase::test_disconnect_changes_only_the_connected_flag_in_one_query",
    ),
    "cheaper-queries": (
        "tests.test_views.WebSocketViewClientInputTestCase::test_a_message_costs_three_queries",
        "tests.test_views.WebSocketViewPartialWritesTestCase::test_disconnect_for_an_unknown_connection_is_a_400_and_writes_nothing",
    ),
    "handle-not-result": (
        "tests.test_models.ApiGatewayCreateGatewayResultTestCase::test_create_gateway_returns_true_when_it_creates_the_gateway",
        "tests.test_models.ApiGatewayCreateGatewayResultTestCase::test_create_gateway_target_has_a_single_slash",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_a_matching_gateway_is_not_deployed_again",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_a_route_missing_in_aws_is_created",
        "tests.test_sync.PushAdditionalRoutesTestCase::test_routes_only_in_aws_are_left_alone",
    ),
    "route-deployed-by-deployment": (
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_create_route_marks_deployed_without_saving_through_save",
    ),
    "token-view": (
        "tests.test_views.WebSocketTokenViewIntegrationTestCase::test_post_creates_session_when_missing",
        "tests.test_views.WebSocketTokenViewIntegrationTestCase::test_post_returns_token_json",
    ),
    "view-answers": (
        "tests.test_routing.WebSocketViewRoutingTestCase::test_a_message_for_a_closed_session_is_refused_through_the_stack",
        "tests.test_routing.WebSocketViewRoutingTestCase::test_a_request_naming_an_unregistered_gateway_is_refused",
        "tests.test_views.WebSocketViewClientInputTestCase::test_connect_with_invalid_channel_records_failed_attempt",
        "tests.test_views.WebSocketViewClientInputTestCase::test_connect_with_invalid_channel_returns_400_without_consuming_token",
        "tests.test_views.WebSocketViewClientInputTestCase::test_disconnect_for_unknown_connection_returns_400",
        "tests.test_views.WebSocketViewClientInputTestCase::test_dispatch_answers_a_message_from_a_deactivated_user_with_400",
        "tests.test_views.WebSocketViewClientInputTestCase::test_dispatch_disconnect_for_unknown_connection_does_not_raise",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_additional_checks_fail",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_connection_headers_missing",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_host_is_not_allowed",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_host_is_not_in_origin",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_token_enabled_and_session_missing",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_token_is_invalid",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_success_with_rate_limiting_disabled_skips_success_record_attempt",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_connect_rejects_malformed_connection_id",
        "tests.test_views.WebSocketViewSessionTrustTestCase::test_dispatch_rejects_a_message_for_a_disconnected_session",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_a_connect_without_a_useragent_is_refused_not_an_error",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_a_message_without_a_useragent_is_refused_by_the_header_check",
        "tests.test_views.WebSocketViewUserAgentDispatchTestCase::test_connect_with_a_real_useragent_is_refused_when_the_check_is_on",
    ),
    "view-bypassed-collaborator": (
        "tests.test_views.WebSocketViewClientInputTestCase::test_connect_stores_the_hashes_that_tie_the_session_to_the_login",
        "tests.test_views.WebSocketViewConsolidatedFinalCoverageTestCase::test_connect_success_with_valid_token_sets_request_user",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_creates_session_when_successful_without_token",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_returns_bad_request_when_rate_limited",
        "tests.test_views.WebSocketViewRemainingBranchTestCase::test_connect_valid_token_branch_with_plain_truthy_user_mock",
        "tests.test_views.WebSocketViewSimpleTestCase::test_disconnect",
    ),
    "worker-writes-rows": (
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_a_route_that_already_exists_in_aws_is_marked_deployed_when_resuming",
        "tests.test_models.ApiGatewayAdditionalRouteDeployedStateTestCase::test_create_gateway_marks_its_additional_routes_deployed",
        "tests.test_models.ApiGatewaySaveSyncsToAwsTestCase::test_saving_twice_pushes_a_change_once",
    ),
}


def _merged(*tables: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    merged: dict[str, tuple[str, ...]] = {}
    for table in tables:
        for reason, test_ids in table.items():
            merged[reason] = merged.get(reason, ()) + test_ids
    return merged


#: Failing test ids per mode, grouped by reason (reviewed; see the module docstring).
EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "plain": _merged(_BOTH_MODES, _PLAIN_ONLY),
    "secret": _merged(_BOTH_MODES, _SECRET_ONLY),
}
