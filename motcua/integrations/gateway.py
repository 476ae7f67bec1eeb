"""The gateway: one configured adapter per registry plus the national portal, built from the environment.

Environment (all optional; without a URL a registry is "not configured" and forms fall back to typing):
  MOTCUA_REGISTRY_URL            base URL of the data-sharing platform (the sandbox in development);
                                 registries live under <base>/registries/<kind>, the portal under <base>/portal
  MOTCUA_REGISTRY_<KIND>_URL     one registry elsewhere (KIND: POPULATION, ENTERPRISE, CIVIL_STATUS, TAX,
                                 SOCIAL_INSURANCE)
  MOTCUA_REGISTRY_TOKEN          bearer credential for the registries
  MOTCUA_REGISTRY_TIMEOUT        read timeout in seconds (default 5)
  MOTCUA_REGISTRY_RETRIES        extra attempts on transient failures (default 2)
  MOTCUA_PORTAL_URL, MOTCUA_PORTAL_TOKEN   the National Public Service Portal sync endpoint
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx

from motcua.domain.registry import RegistryKind
from motcua.integrations.http import EndpointConfig, HttpEndpoint
from motcua.integrations.portal import PORTAL_LABEL, PortalClient
from motcua.integrations.registries import PLUGINS, RegistryPlugin

_P = TypeVar("_P", bound=RegistryPlugin)


def registry_path(kind: RegistryKind) -> str:
    return "/registries/" + kind.value.replace("_", "-")


@dataclass(frozen=True)
class GatewayConfig:
    registries: Mapping[RegistryKind, EndpointConfig] = field(default_factory=dict)
    portal: EndpointConfig | None = None

    @classmethod
    def for_base_url(cls, base_url: str, *, token: str | None = None, **options: Any) -> GatewayConfig:
        """Every registry and the portal under one platform base URL (how the sandbox is laid out)."""
        base = base_url.rstrip("/")
        template = EndpointConfig(base_url=base, token=token, **options)
        registries = {kind: replace(template, base_url=base + registry_path(kind)) for kind in RegistryKind}
        portal = replace(template, base_url=base + "/portal", retries=0)  # the outbox retries deliveries
        return cls(registries, portal)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        env = os.environ if env is None else env
        options: dict[str, Any] = {}
        if env.get("MOTCUA_REGISTRY_TIMEOUT"):
            options["read_timeout"] = float(env["MOTCUA_REGISTRY_TIMEOUT"])
        if env.get("MOTCUA_REGISTRY_RETRIES"):
            options["retries"] = int(env["MOTCUA_REGISTRY_RETRIES"])
        token = env.get("MOTCUA_REGISTRY_TOKEN") or None
        base = env.get("MOTCUA_REGISTRY_URL")
        config = cls.for_base_url(base, token=token, **options) if base else cls()
        registries = dict(config.registries)
        for kind in RegistryKind:
            url = env.get(f"MOTCUA_REGISTRY_{kind.value.upper()}_URL")
            if url:
                registries[kind] = EndpointConfig(base_url=url, token=token, **options)
        portal = config.portal
        if env.get("MOTCUA_PORTAL_URL"):
            portal = EndpointConfig(
                base_url=env["MOTCUA_PORTAL_URL"], token=env.get("MOTCUA_PORTAL_TOKEN") or None, retries=0
            )
        return cls(registries, portal)


class Gateway:
    """The configured adapters. Thread-safe; keep one per process (each endpoint has its own breaker)."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        extra: dict[str, Any] = {"transport": transport}
        if sleep is not None:
            extra["sleep"] = sleep
        self.plugins: dict[RegistryKind, RegistryPlugin] = {}
        for plugin in PLUGINS:
            endpoint_config = config.registries.get(plugin.kind)
            endpoint = (
                HttpEndpoint(plugin.kind.label_vi, endpoint_config, **extra) if endpoint_config else None
            )
            self.plugins[plugin.kind] = plugin(endpoint)
        portal_endpoint = HttpEndpoint(PORTAL_LABEL, config.portal, **extra) if config.portal else None
        self.portal = PortalClient(portal_endpoint)

    def registry(self, kind: RegistryKind) -> RegistryPlugin:
        return self.plugins[kind]

    def typed(self, kind: RegistryKind, cls: type[_P]) -> _P:
        plugin = self.plugins[kind]
        assert isinstance(plugin, cls)
        return plugin

    def status(self) -> list[dict[str, Any]]:
        """Each registry: configured or not, and its circuit breaker's state."""
        rows = []
        for kind, plugin in self.plugins.items():
            endpoint = plugin.endpoint
            rows.append(
                {
                    "source": kind.value,
                    "label": kind.label_vi,
                    "configured": endpoint is not None,
                    "breaker": endpoint.breaker.state.value if endpoint else None,
                }
            )
        return rows

    def close(self) -> None:
        for plugin in self.plugins.values():
            if plugin.endpoint is not None:
                plugin.endpoint.close()
        if self.portal.endpoint is not None:
            self.portal.endpoint.close()
