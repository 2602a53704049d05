"""The AWS boundary: the only package that talks to boto3/botocore and translates AWS errors.

Nothing outside ``wsgateway.aws`` imports botocore exceptions; callers catch the classes in
:mod:`wsgateway.exceptions`.
"""

from wsgateway.aws.clients import (
    apigatewayv2_client,
    clear_client_cache,
    get_boto3_client,
    get_region_name,
    route53_client,
)
from wsgateway.aws.errors import aws_call, error_from_status, translate_error

__all__ = [
    "apigatewayv2_client",
    "aws_call",
    "clear_client_cache",
    "error_from_status",
    "get_boto3_client",
    "get_region_name",
    "route53_client",
    "translate_error",
]
