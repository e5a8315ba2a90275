"""TelemetrySettings validation and the Telemetry.create header contract."""

from __future__ import annotations

import pytest

from gateway.config.models import UpstreamsFile
from gateway.config.secrets import SecretRef
from gateway.errors import ConfigError
from gateway.telemetry import Telemetry, TelemetrySettings


def test_defaults_are_off_and_short() -> None:
    s = TelemetrySettings.from_config({})
    assert s.enabled is False
    assert s.service_name == "mcp-gateway"
    assert s.export_timeout <= 5
    assert (s.traces, s.logs, s.metrics) == (True, True, True)
    assert Telemetry.create(s).enabled is False


def test_from_gateway_section_of_upstreams_yaml() -> None:
    doc = UpstreamsFile.model_validate(
        {
            "gateway": {
                "telemetry": {
                    "enabled": True,
                    "endpoint": "http://127.0.0.1:4318/",
                    "headers": {"Authorization": {"secret": "otel-token", "template": "Bearer {secret}"}, "x-a": "b"},
                    "metrics": False,
                }
            }
        }
    )
    s = TelemetrySettings.from_config(doc.gateway.telemetry, path="upstreams.yaml")
    assert s.metrics is False
    assert s.signal_url("traces") == "http://127.0.0.1:4318/v1/traces"
    assert s.secret_refs() == {"Authorization": SecretRef(secret="otel-token", template="Bearer {secret}")}


@pytest.mark.parametrize(
    ("data", "location", "hint"),
    [
        ({"enabled": True}, "gateway.telemetry", "endpoint is required"),
        ({"endpont": "http://x"}, "gateway.telemetry.endpont", "Extra inputs"),
        ({"endpoint": "127.0.0.1:4318"}, "gateway.telemetry.endpoint", "http"),
        ({"export_timeout": 0}, "gateway.telemetry.export_timeout", "greater than 0"),
    ],
)
def test_invalid_settings_name_the_key(data: dict[str, object], location: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        TelemetrySettings.from_config(data, path="upstreams.yaml")
    assert info.value.location == location
    assert info.value.path == "upstreams.yaml"
    assert hint in str(info.value)


def test_unresolved_secret_header_is_a_config_error() -> None:
    s = TelemetrySettings(
        enabled=True, endpoint="http://127.0.0.1:9", headers={"Authorization": SecretRef(secret="otel-token")}
    )
    with pytest.raises(ConfigError) as info:
        Telemetry.create(s, {})
    assert "otel-token" in str(info.value)
    assert info.value.location == "gateway.telemetry.headers.Authorization"
