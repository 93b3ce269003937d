"""Who may talk to the server, and who may write.

A page on any other site can make the browser send requests to 127.0.0.1, and a name it
controls can be re-pointed there (DNS rebinding). So every request must name the address the
server listens on in its Host header, and every write must carry the per-server token, which
only pages served here receive, and come from one of those pages (its Origin and
Sec-Fetch-Site headers say so when the browser sends them).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

TOKEN_HEADER = "x-kiln-token"
WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class HostCheck:
    """The Host headers that name this server: 127.0.0.1, localhost and the address it
    listens on, each with its port. A server listening on every address (``--host 0.0.0.0``)
    also answers to any IP address with its port: rebinding needs a name, never a bare address."""

    def __init__(self, host: str, port: int):
        self.port = port
        self.any_address = host in WILDCARDS
        names = {"127.0.0.1", "localhost", "[::1]"}
        if not self.any_address:
            names.add(f"[{host}]" if ":" in host else host.lower())
        self.allowed = {f"{name}:{port}" for name in names}
        if port == 80:  # browsers leave the default port out
            self.allowed |= names

    def __call__(self, header: str | None) -> bool:
        if not header:
            return False
        header = header.lower()
        if header in self.allowed:
            return True
        if self.any_address:
            name, _, port = header.rpartition(":")
            return port == str(self.port) and _is_ip(name)
        return False


def write_refusal(headers: Mapping[str, str], token: str) -> str | None:
    """Why a write request must be refused, or None when it may go ahead.

    ``headers`` has lower-case names; the Host header has already been checked.
    """
    sent = headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(sent.encode(), token.encode()):
        return "a write needs the token of this server (X-Kiln-Token); reload the page"
    origin = headers.get("origin")
    if origin is not None and origin.lower() != f"http://{headers.get('host', '').lower()}":
        return f"writes from another origin ({origin}) are refused"
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "writes from another site are refused"
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return "a write must be sent as application/json"
    return None
