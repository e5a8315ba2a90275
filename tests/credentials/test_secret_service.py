from __future__ import annotations

import keyring
from keyring.backends.SecretService import Keyring as SecretServiceKeyring


def test_fixture_gives_a_real_secret_service(secret_service: dict[str, str]) -> None:
    assert isinstance(keyring.get_keyring(), SecretServiceKeyring)
    assert secret_service["DBUS_SESSION_BUS_ADDRESS"].startswith("unix:")
    keyring.set_password("mcp-gateway-fixture", "probe", "s3cret-value")
    assert keyring.get_password("mcp-gateway-fixture", "probe") == "s3cret-value"
    keyring.delete_password("mcp-gateway-fixture", "probe")
    assert keyring.get_password("mcp-gateway-fixture", "probe") is None
