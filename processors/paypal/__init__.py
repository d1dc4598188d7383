"""PayPal connector: Orders v2 (create, approve by the buyer, capture or authorize) and Payments v2
(capture of an authorization, void, refund), JSON over HTTP with an OAuth2 bearer token.

* ``connector``: the ``Connector`` interface (``PayPalConnector``, registered as "paypal");
* ``client``: the OAuth token (cached in Redis) and transport (``PayPal-Request-Id``);
* ``mapping``: PayPal's orders, captures, refunds and errors -> ``ProcessorResult``;
* ``webhooks``: signature verification through PayPal's API, and events.
"""

from .client import paypal_token_forget
from .connector import PayPalConnector

__all__ = ["PayPalConnector", "paypal_token_forget"]
