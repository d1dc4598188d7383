"""OpenAPI security scheme of customer session tokens (registered by ``CustomersConfig.ready``),
listed only by the operations whose permission admits a customer."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from gateway.permissions import principal_kinds


class CustomerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "customers.authentication.CustomerTokenAuthentication"
    name = "customerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Customer session token (cst_...) from login."}

    def get_security_requirement(self, auto_schema):
        return [{"customerToken": []}] if "customer" in principal_kinds(auto_schema.view) else []
