"""The sandbox connector (implemented by the payments-core issue's sandbox work)."""
