"""Checks of our own that Schemathesis runs beside its built-in ones (SCHEMATHESIS_HOOKS)."""
import json
import os

import schemathesis

MONEY = {"amount", "currency", "subtotal", "tax", "unit_amount", "amount_due",
         "amount_paid", "amount_remaining", "total_excluding_tax"}


def _keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


@schemathesis.check
def support_receives_no_amount(ctx, response, case):
    """With a support member's token (API_CHECK_ROLE=support), no answer holds an amount."""
    if os.environ.get("API_CHECK_ROLE") != "support":
        return None
    try:
        body = json.loads(response.text or "null")
    except ValueError:
        return None
    found = MONEY.intersection(_keys(body))
    if found:
        raise AssertionError(f"support received {sorted(found)} from {case.path}")
    return None
