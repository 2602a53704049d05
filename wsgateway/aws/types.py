"""Names for the ``boto3-stubs`` types the package annotates with (for the type checker only).

``boto3-stubs`` is a development dependency: modules import these names under
``if TYPE_CHECKING:`` only, so an installed wheel never needs them. A resource read back from AWS
comes either from its ``get_*`` call or as an item of a ``get_*s`` listing, whose types differ
in which keys are required; the unions below name both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient
    from mypy_boto3_apigatewayv2 import ApiGatewayV2Client
    from mypy_boto3_apigatewayv2.type_defs import (
        ApiMappingTypeDef,
        ApiTypeDef,
        CreateApiRequestTypeDef,
        CreateDomainNameResponseTypeDef,
        DomainNameConfigurationTypeDef,
        GetApiMappingResponseTypeDef,
        GetApiResponseTypeDef,
        GetDomainNameResponseTypeDef,
        GetIntegrationResultTypeDef,
        GetRouteResultTypeDef,
        IntegrationTypeDef,
        RouteTypeDef,
        UpdateApiResponseTypeDef,
        UpdateDomainNameResponseTypeDef,
    )
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import ChangeTypeDef

    Api: TypeAlias = ApiTypeDef | GetApiResponseTypeDef | UpdateApiResponseTypeDef
    Integration: TypeAlias = IntegrationTypeDef | GetIntegrationResultTypeDef
    Route: TypeAlias = RouteTypeDef | GetRouteResultTypeDef
    ApiMapping: TypeAlias = ApiMappingTypeDef | GetApiMappingResponseTypeDef
    DomainName: TypeAlias = (
        GetDomainNameResponseTypeDef | CreateDomainNameResponseTypeDef | UpdateDomainNameResponseTypeDef
    )

    __all__ = [
        "Api",
        "ApiGatewayManagementApiClient",
        "ApiGatewayV2Client",
        "ApiMapping",
        "ChangeTypeDef",
        "CreateApiRequestTypeDef",
        "DomainName",
        "DomainNameConfigurationTypeDef",
        "Integration",
        "Route",
        "Route53Client",
    ]
