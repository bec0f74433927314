"""Identity and access (身份与权限): accounts, passwords, logins, API tokens and the principal of a request.

Functions take the caller's session and flush; the caller commits (except that a failed login is
committed at once, see :func:`authenticate`).
"""

from app.identity.accounts import (
    MIN_PASSWORD_LENGTH,
    ROLE_NAMES,
    TRACK_ROLES,
    check_password,
    create_organization,
    create_user,
    delete_user,
    find_organization,
    find_user,
    grant_role,
    normalize_username,
    parse_org_kind,
    parse_role,
    revoke_role,
    set_password,
    set_user_active,
)
from app.identity.login import authenticate, failures, prune_login_attempts
from app.identity.passwords import hash_password, needs_rehash, verify_password
from app.identity.principal import Principal, RoleGrantKey, principal_for_user, principal_from_user
from app.identity.tokens import create_api_token, principal_for_token, revoke_api_token, tokens_of

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "ROLE_NAMES",
    "TRACK_ROLES",
    "Principal",
    "RoleGrantKey",
    "authenticate",
    "check_password",
    "create_api_token",
    "create_organization",
    "create_user",
    "delete_user",
    "failures",
    "find_organization",
    "find_user",
    "grant_role",
    "hash_password",
    "needs_rehash",
    "normalize_username",
    "parse_org_kind",
    "parse_role",
    "principal_for_token",
    "principal_for_user",
    "principal_from_user",
    "prune_login_attempts",
    "revoke_api_token",
    "revoke_role",
    "set_password",
    "set_user_active",
    "tokens_of",
    "verify_password",
]
