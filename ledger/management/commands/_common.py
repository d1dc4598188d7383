from django.core.exceptions import ObjectDoesNotExist
from django.core.management.base import CommandError

from merchants.selectors import merchant_get


def merchant_option(value: str | None) -> str | None:
    """The --merchant value, checked to exist so a typo is an error rather than an empty report."""
    if value is None:
        return None
    try:
        return merchant_get(merchant_id=value).id
    except ObjectDoesNotExist:
        raise CommandError(f"No such merchant: {value}") from None
