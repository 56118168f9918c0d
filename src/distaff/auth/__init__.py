"""Custom auth from `langgraph.json` (`auth.path` naming a `langgraph_sdk.Auth` object)."""

from distaff.auth.filters import owned
from distaff.auth.gate import OPEN, SYSTEM, Gate, acting_as, set_principal
from distaff.auth.handlers import Authorizer, Principal, load_auth
from distaff.auth.users import AuthUser
from distaff.filters import Filter, matches

__all__ = [
    "OPEN",
    "SYSTEM",
    "AuthUser",
    "Authorizer",
    "Filter",
    "Gate",
    "Principal",
    "acting_as",
    "load_auth",
    "matches",
    "owned",
    "set_principal",
]
