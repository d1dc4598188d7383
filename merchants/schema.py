"""OpenAPI security scheme of API keys (registered by ``MerchantsConfig.ready``)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "merchants.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Secret key (sk_test_/sk_live_) or publishable key (pk_test_/pk_live_).",
        }
