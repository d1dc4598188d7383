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


def mode_options(parser) -> None:
    """--livemode / --testmode: one mode's books only (default: both, always as separate books)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--livemode", action="store_const", const=True, dest="livemode", help="live money only")
    group.add_argument("--testmode", action="store_const", const=False, dest="livemode", help="test money only")


def mode_name(livemode: bool) -> str:
    return "live" if livemode else "test"
