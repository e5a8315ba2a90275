"""Configuration: ``upstreams.yaml`` models, loading and in-place editing."""

from gateway.config.loader import LoadedConfig, load_config, load_config_async
from gateway.config.models import GatewaySettings, HttpUpstream, StdioUpstream, Upstream, UpstreamsFile
from gateway.config.secrets import SecretRef

__all__ = [
    "GatewaySettings",
    "HttpUpstream",
    "LoadedConfig",
    "SecretRef",
    "StdioUpstream",
    "Upstream",
    "UpstreamsFile",
    "load_config",
    "load_config_async",
]
