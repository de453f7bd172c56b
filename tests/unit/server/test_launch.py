"""Which binds may run without authentication."""

from __future__ import annotations

import pytest

from labledger._foundation.errors import ConfigurationError
from labledger.server import auth_required_for, is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    assert auth_required_for(host, has_users=False) is False
    assert auth_required_for(host, has_users=True) is True


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.4", "example.org"])
def test_other_binds_without_users_refuse(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigurationError, match="without authentication"):
        auth_required_for(host, has_users=False)
    assert auth_required_for(host, has_users=True) is True
