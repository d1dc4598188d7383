"""OpenAPI security schemes of API keys (registered by ``MerchantsConfig.ready``): each operation
lists the kinds of key its permission really admits (``gateway.permissions.principal_kinds``)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from gateway.permissions import principal_kinds


class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "merchants.authentication.ApiKeyAuthentication"
    name = ["publishableKey", "secretKey"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Publishable key (pk_test_/pk_live_): what a browser or app may call.",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Secret key (sk_test_/sk_live_): the merchant's server.",
            },
        ]

    def get_security_requirement(self, auto_schema):
        kinds = principal_kinds(auto_schema.view)
        return [
            {name: []} for kind, name in (("publishable", "publishableKey"), ("secret", "secretKey")) if kind in kinds
        ]
