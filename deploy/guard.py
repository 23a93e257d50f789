"""What keeps the class's door standing, in HAProxy itself: password guessers, slow clients and oversized uploads.

- **Failed logins** are counted per user name and source address (a stick table keyed `address/name`). After
  `login_failures` failed logins of one name from one address in a minute, that name is held back from that address
  for `login_hold_s` (every request carrying it gets 429 with a Retry-After, and no password is checked: a guesser
  costs the host no SHA-512 crypt while held; trying again while held keeps it held). Other names from the same
  address are not: a class behind one NAT address shares it, and a guesser next door does not lock it out.
  A browser's first request (no credentials yet) is not a failed login.
- **Slow clients**: a request's headers must arrive within `header_timeout_s` (a slowloris that trickles them holds
  a connection that long, not a minute), and one address holds at most `max_connections` connections at once.
- **Uploads** larger than the app's own limit (`server.maxUploadSize` in .streamlit/config.toml, the one place it is
  set) are refused with 413 at the proxy, before a byte reaches a replica.

`deploy/serve` prints each address and name it holds back, from HAProxy's runtime API (`held_logins`).
"""

from __future__ import annotations

import re
import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LOGINS", "Held", "Limits", "held_logins", "show_table", "upload_limit"]

LOGINS, SOURCES = "logins", "sources"  # the stick tables
MULTIPART_SLACK = 2**20  # a form's boundaries and headers around the file


@dataclass(frozen=True)
class Limits:
    """The door's limits; the defaults are a classroom's (50 students behind one NAT address).

    - `login_failures` 10 a minute: a student who mistypes fails 2 or 3 times before getting it right; a script
      guesses about 77 times a second (measured here). Ten keeps mistyping far from it and a guesser to ten tries
      per name per hold.
    - `login_hold_s` 300: five minutes, said in the Retry-After header.
    - `header_timeout_s` 10: a browser sends its headers in milliseconds, even over a crowded Wi-Fi.
    - `max_connections` 500: a browser opens up to 6 connections to a host and the session's websocket, so a class
      of 50 behind one address needs about 350.
    """

    upload_bytes: int  # the largest request body let through (the app's upload limit and a form's slack)
    login_failures: int = 10
    login_hold_s: int = 300
    header_timeout_s: int = 10
    max_connections: int = 500

    def __post_init__(self):
        for name in ("upload_bytes", "login_failures", "login_hold_s", "header_timeout_s", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def tables(self) -> list[str]:
        """The stick tables: failed logins per `address/name`, open connections per address."""
        return [
            f"backend {LOGINS}",
            f"    stick-table type string len 128 size 100k expire {self.login_hold_s}s store gpc0,gpc0_rate(60s),gpt0",
            f"backend {SOURCES}",
            "    stick-table type ipv6 size 100k expire 60s store conn_cur",
        ]

    def connection_rules(self) -> list[str]:
        """The frontend's first rules: an address's open connections, counted and capped."""
        return [
            f"    tcp-request connection track-sc0 src table {SOURCES}",
            f"    tcp-request connection reject if {{ sc0_conn_cur gt {self.max_connections} }}",
        ]

    def request_rules(self, userlist: str | None) -> list[str]:
        """The frontend's request rules, in order: the upload limit, and with a userlist the failed-login throttle
        and the one password check (its result in `txn.ok`, for the auth rule that follows)."""
        lines = [
            f'    http-request deny deny_status 413 content-type text/plain string "{self.upload_message()}" '
            f"if {{ req.hdr_val(content-length) gt {self.upload_bytes} }}",
        ]
        if userlist is None:
            return lines
        minutes = max(1, round(self.login_hold_s / 60))
        held = (
            f"Too many failed logins for this name from your address: it is held back for {minutes} minute(s). "
            "Wait, then type the password carefully."
        )
        return lines + [
            # the name of Basic credentials, and the key `address/name` under which its failures are counted
            "    http-request set-var(txn.user) req.hdr(authorization),word(2,' '),b64dec,field(1,:) "
            """if { req.hdr(authorization) -m beg -i "basic " }""",
            "    http-request set-var(txn.login) src,concat(/,txn.user) if { var(txn.user) -m found }",
            f"    http-request track-sc1 var(txn.login) table {LOGINS} if {{ var(txn.login) -m found }}",
            f'    http-request deny deny_status 429 hdr Retry-After {self.login_hold_s} content-type text/plain string "{held}" '
            "if { sc1_get_gpt0 gt 0 }  # held back: refused before any password is checked",
            f"    http-request set-var(txn.ok) http_auth({userlist})  # the one password check of a request",
            "    http-request sc-inc-gpc0(1) if { var(txn.login) -m found } !{ var(txn.ok) -m bool }",
            f"    http-request sc-set-gpt0(1) 1 if {{ sc1_gpc0_rate ge {self.login_failures} }}",
        ]

    def upload_message(self) -> str:
        return f"This upload is larger than this server takes ({(self.upload_bytes - MULTIPART_SLACK) // 2**20} MB)."


def upload_limit(config: Path) -> int:
    """The largest request body to let through: Streamlit's `server.maxUploadSize` (MB, default 200) in the app's
    config file, and a form's slack around the file."""
    try:
        settings = tomllib.loads(config.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        settings = {}
    megabytes = settings.get("server", {}).get("maxUploadSize", 200)
    return int(megabytes) * 2**20 + MULTIPART_SLACK


@dataclass(frozen=True)
class Held:
    """A name held back from an address, and how many failed logins brought it there."""

    address: str
    user: str
    failures: int


_ENTRY = re.compile(r"key=(?P<key>\S+) .*?gpt0=(?P<held>\d+) gpc0=(?P<failures>\d+)")


def held_logins(table: str) -> list[Held]:
    """The held entries of `show table logins` (HAProxy's runtime API)."""
    held = []
    for line in table.splitlines():
        match = _ENTRY.search(line)
        if match and match["held"] != "0":
            address, _, user = match["key"].partition("/")
            held.append(Held(address.removeprefix("::ffff:"), user, int(match["failures"])))
    return held


def show_table(path: Path, table: str = LOGINS, timeout: float = 1.0) -> str:
    """A stick table's entries, from HAProxy's runtime API on the unix socket at `path`."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(f"show table {table}\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
