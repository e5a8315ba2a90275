"""URL host normalisation and host matching for ``url_host`` / ``url_host_not``.

Hosts are compared the way a browser or HTTP client would resolve them (WHATWG URL rules, minus DNS):
lower case, trailing dot dropped, percent-decoding, IDNA to punycode (so a Cyrillic look-alike never equals the
ASCII name), userinfo ignored (``http://good.com@evil.com`` is ``evil.com``), backslashes treated as slashes,
and IPv4 literals in every notation (``0x7f000001``, ``2130706433``, ``0177.0.0.1``, ``127.1``) and IPv4-mapped
IPv6 reduced to one address. Names that merely *resolve* to private addresses are not caught here: that needs DNS.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from urllib.parse import unquote, urlsplit

__all__ = ["HOST_SETS", "HostMatcher", "IPAddress", "normalize_host", "parse_ip", "url_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_idna: ModuleType | None
try:  # the idna package implements UTS #46 like browsers; Python's codec is IDNA 2003 and stricter.
    import idna as _idna
except ImportError:  # pragma: no cover - idna ships with the venv
    _idna = None

_SPECIAL_SCHEMES = ("http", "https", "ws", "wss", "ftp")
_STRIP_INSIDE = re.compile(r"[\t\n\r]")


def _nets(*cidrs: str) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


@dataclass(frozen=True, slots=True)
class _HostSet:
    networks: tuple[_Network, ...]
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()


HOST_SETS: dict[str, _HostSet] = {
    # 0.0.0.0 and :: reach the local machine on Linux and macOS, so they count as loopback.
    "loopback": _HostSet(
        _nets("127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128"), frozenset({"localhost"}), (".localhost",)
    ),
    "private": _HostSet(_nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")),
    "link_local": _HostSet(_nets("169.254.0.0/16", "fe80::/10")),
    "metadata": _HostSet(
        _nets(
            "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack
            "169.254.170.2/32",  # AWS ECS task metadata
            "fd00:ec2::254/128",  # AWS IPv6 IMDS
            "100.100.100.200/32",  # Alibaba Cloud
            "192.0.0.192/32",  # Oracle Cloud (legacy)
        ),
        frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "metadata.azure.com"}),
        (".metadata.google.internal",),
    ),
}


def _parse_ipv4_part(part: str) -> int | None:
    if not part:
        return None
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:], 16) if len(part) > 2 else 0
        if len(part) > 1 and part[0] == "0":
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_parse_ipv4_part(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    nums = [n for n in numbers if n is not None]
    # WHATWG: each leading part is one byte; the last part fills the remaining bytes (so 127.1 is 127.0.0.1).
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 256 ** (5 - len(nums)):
        return None
    value = 0
    for n in nums[:-1]:
        value = value * 256 + n
    value = value * 256 ** (5 - len(nums)) + nums[-1]
    return ipaddress.IPv4Address(value)


def parse_ip(host: str) -> IPAddress | None:
    """The address an IP literal host denotes (IPv4 in any notation, IPv6 with or without brackets and zone)."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            addr = ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
        mapped = addr.ipv4_mapped
        if mapped is not None:
            return mapped
        # Deprecated IPv4-compatible form ::a.b.c.d still routes to the IPv4 host on some stacks.
        if int(addr) >> 32 == 0 and int(addr) > 1:
            return ipaddress.IPv4Address(int(addr))
        return addr
    return _parse_ipv4(host)


def _to_ascii(host: str) -> str:
    if host.isascii():
        return host
    # IDNA 2008 with UTS #46 mapping when the idna package is there, else Python's IDNA 2003 codec.
    encoders: list[Callable[[str], str]] = [lambda h: h.encode("idna").decode("ascii")]
    if _idna is not None:
        encoders.insert(0, lambda h: str(_idna.encode(h, uts46=True).decode("ascii")))
    for encode in encoders:
        try:
            return encode(host)
        except UnicodeError:  # idna.IDNAError is a UnicodeError
            continue
    return host  # still non-ASCII, so it can never equal an ASCII rule host


@lru_cache(maxsize=8192)
def normalize_host(host: str) -> str:
    """Lower case, percent-decoded, punycode, no trailing dot; IP literals in canonical form."""
    host = unquote(host).strip().lower()
    host = _to_ascii(host).lower().rstrip(".")
    ip = parse_ip(host)
    return str(ip) if ip is not None else host


@lru_cache(maxsize=8192)
def url_host(value: str) -> str | None:
    """The normalised host a URL points at, or None when ``value`` has no host."""
    value = _STRIP_INSIDE.sub("", value.strip(" \x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x1f"))
    if not value:
        return None
    scheme = value.split(":", 1)[0].lower() if "://" in value else ""
    if not scheme:
        value = "http://" + value  # "example.com/x" or "10.0.0.1:80" as a bare host
        scheme = "http"
    if scheme in _SPECIAL_SCHEMES:
        value = value.replace("\\", "/")
    try:
        netloc = urlsplit(value).netloc
    except ValueError:
        return None
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        host = host[: host.find("]") + 1] if "]" in host else host
    elif ":" in host:
        host = host.split(":", 1)[0]
    if not host:
        return None
    return normalize_host(host)


@dataclass(frozen=True, slots=True)
class HostMatcher:
    """Host entries from a rule: names (``example.com``), wildcards (``*.example.com`` subdomains only,
    ``**.example.com`` apex and subdomains), IP literals, CIDR ranges and named sets
    (``private``, ``loopback``, ``link_local``, ``metadata``)."""

    names: frozenset[str]
    suffixes: tuple[str, ...]
    networks: tuple[_Network, ...]

    @classmethod
    def compile(cls, entries: list[str]) -> HostMatcher:
        """Compile rule entries; raises ValueError naming the bad entry."""
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[_Network] = []
        for entry in entries:
            if entry in HOST_SETS:
                hs = HOST_SETS[entry]
                networks.extend(hs.networks)
                names.update(hs.names)
                suffixes.extend(hs.suffixes)
            elif "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"'{entry}' is not a valid CIDR range (e.g. 10.0.0.0/8)") from None
            elif entry.startswith("**."):
                base = normalize_host(entry[3:])
                names.add(base)
                suffixes.append("." + base)
            elif entry.startswith("*."):
                suffixes.append("." + normalize_host(entry[2:]))
            elif "*" in entry:
                raise ValueError(f"'{entry}': only a leading '*.' or '**.' wildcard is supported")
            else:
                names.add(normalize_host(entry))
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    def matches(self, host: str) -> bool:
        """``host`` must already be normalised (see ``normalize_host`` / ``url_host``)."""
        if host in self.names:
            return True
        if self.suffixes and host.endswith(self.suffixes):
            return True
        if self.networks:
            ip = parse_ip(host)
            if ip is not None:
                return any(ip.version == net.version and ip in net for net in self.networks)
        return False
