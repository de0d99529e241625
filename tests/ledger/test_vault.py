from __future__ import annotations

import secrets

import pytest

from ledger import SubjectVault, VaultError


def test_vault_round_trip_and_binding() -> None:
    vault = SubjectVault(secrets.token_bytes(32))
    sealed = vault.seal("er-1", {"email": "ada@example.org", "name": "Ada"})
    assert b"ada@example.org" not in sealed.ciphertext + sealed.wrapped_key
    assert vault.open("er-1", sealed.key_id, sealed.wrapped_key, sealed.ciphertext) == {
        "email": "ada@example.org",
        "name": "Ada",
    }
    # Sealed for one request, it does not open as another.
    with pytest.raises(VaultError, match="does not authenticate"):
        vault.open("er-2", sealed.key_id, sealed.wrapped_key, sealed.ciphertext)
    # Shredded: gone for good.
    with pytest.raises(VaultError, match="shredded"):
        vault.open("er-1", sealed.key_id, None, sealed.ciphertext)


def test_vault_refuses_another_master_key() -> None:
    sealed = SubjectVault(secrets.token_bytes(32)).seal("er-1", {"email": "a@b.org"})
    other = SubjectVault(secrets.token_bytes(32))
    with pytest.raises(VaultError, match="sealed under vault key"):
        other.open("er-1", sealed.key_id, sealed.wrapped_key, sealed.ciphertext)
