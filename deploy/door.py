"""The class's door into `deploy/serve`: HTTPS at the proxy and the class's users, checked before anything starts.

- HTTPS: browsers give a page the camera only in a secure context (HTTPS, or localhost), so without it the Camera
  source works for no student on the room's network, and every photo crosses the network in clear. HAProxy
  terminates TLS with a certificate the instructor brings (`--cert`, a PEM with the certificate chain and its
  key) or one made here for the host's names (`--self-signed`, Debian's `openssl`; kept and reused, so the class
  accepts it once; its SHA-256 fingerprint is printed for the class to compare).
- Users: an htpasswd-style file (`name:hash` per line, a crypt(3) hash as `openssl passwd -6` writes, or
  `deploy/users add FILE NAME`), enforced by HAProxy's `userlist` on every path: the pages, the websocket
  (`/_stcore/stream`), uploads and media. Without credentials: 401.

Every problem is one line (`DoorError`) and nothing is started.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DoorError", "Tls", "User", "hash_password", "host_names", "read_certificate", "read_users", "self_signed"]

USER_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
# crypt(3) hashes HAProxy's userlist checks through libcrypt: SHA-512, SHA-256, yescrypt, bcrypt
CRYPT_HASH = re.compile(r"^\$(6|5|y|gy|2[aby])\$[A-Za-z0-9./$=,]{8,200}$")
VALID_DAYS = 825  # browsers refuse longer-lived certificates


class DoorError(ValueError):
    """A certificate or users file that cannot be used; the message says what and how to fix it."""


@dataclass(frozen=True)
class Tls:
    """A certificate HAProxy can serve: its PEM (chain and key) and the certificate's SHA-256 fingerprint."""

    pem: Path
    fingerprint: str
    names: tuple[str, ...]
    expires: str


@dataclass(frozen=True)
class User:
    name: str
    hash: str


def read_users(path: Path) -> list[User]:
    """The users of an htpasswd-style file: `name:hash` per line; blank lines and `#` comments are skipped.

    Raises:
        DoorError: the file is missing or unreadable, a line is not `name:hash`, a hash is not a crypt(3) hash
            HAProxy checks (an Apache `$apr1$` or `{SHA}` one, or a plain password), a name repeats, or no user.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DoorError(f"the users file {path} does not exist; make it with: deploy/users add {path} NAME") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DoorError(f"cannot read the users file {path} ({getattr(err, 'strerror', None) or err})") from None
    users, seen = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, hashed = line.partition(":")
        where = f"{path}, line {number}"
        if not colon or not USER_NAME.match(name):
            raise DoorError(f"{where}: expected NAME:HASH with a name of letters, digits and ._@+- (up to 64)")
        if not CRYPT_HASH.match(hashed):
            raise DoorError(
                f"{where}: the hash of {name!r} is not a crypt(3) hash HAProxy can check (an Apache $apr1$ or {{SHA}} "
                f"hash, or a plain password?); make it with: deploy/users add {path} {name}  (or openssl passwd -6)"
            )
        if name in seen:
            raise DoorError(f"{where}: {name!r} appears twice")
        seen.add(name)
        users.append(User(name, hashed))
    if not users:
        raise DoorError(f"the users file {path} holds no user; add one with: deploy/users add {path} NAME")
    return users


def hash_password(password: str, openssl: str = "openssl") -> str:
    """A SHA-512 crypt(3) hash of `password` (`openssl passwd -6`, a fresh salt), as the users file keeps it."""
    run = subprocess.run([openssl, "passwd", "-6", "-stdin"], input=password, capture_output=True, text=True)
    if run.returncode != 0 or not CRYPT_HASH.match(run.stdout.strip()):
        raise DoorError(f"openssl could not hash the password: {run.stderr.strip() or run.stdout.strip()}")
    return run.stdout.strip()


def read_certificate(path: Path, openssl: str = "openssl") -> Tls:
    """Check a PEM for HAProxy: readable, a certificate that has not expired, and its private key.

    Raises:
        DoorError: missing, unreadable, no certificate, no key, expired, or a key that is not the certificate's.
    """
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except FileNotFoundError:
        raise DoorError(f"the certificate {path} does not exist (or use --self-signed to make one)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DoorError(f"cannot read the certificate {path} ({getattr(err, 'strerror', None) or err})") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise DoorError(f"{path} holds no certificate (-----BEGIN CERTIFICATE-----); give a PEM of the chain and its key")
    if not re.search(r"-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----", text):
        raise DoorError(f"{path} holds no private key: HAProxy wants the certificate and its key in one PEM (cat cert key)")
    if "ENCRYPTED PRIVATE KEY" in text:
        raise DoorError(f"{path}: the key is encrypted; HAProxy needs it unencrypted (openssl pkey -in KEY -out PLAIN)")
    info = _x509(openssl, path, "-noout", "-fingerprint", "-sha256", "-enddate", "-ext", "subjectAltName", "-subject")
    if not _key_matches(openssl, path):
        raise DoorError(f"{path}: the private key is not the certificate's")
    if subprocess.run([openssl, "x509", "-in", str(path), "-noout", "-checkend", "0"], capture_output=True).returncode:
        raise DoorError(f"the certificate {path} has expired ({_field(info, 'notAfter')}); renew it or use --self-signed")
    names = tuple(_normal(n) for n in re.findall(r"(?:DNS|IP Address):([^,\s]+)", info))
    names = names or tuple(re.findall(r"CN\s*=\s*([^,/\n]+)", info))
    fingerprint = _field(info, "sha256 Fingerprint") or _field(info, "SHA256 Fingerprint")
    return Tls(path, fingerprint, names, _field(info, "notAfter"))


def self_signed(folder: Path, names: list[str], openssl: str = "openssl") -> Tls:
    """A self-signed certificate for `names` (host names and addresses), kept in `folder` and reused while it
    covers them and has a month left, so that a class accepts it once. Made with `openssl req -x509` (an EC P-256
    key, 825 days)."""
    pem = folder / "selfsigned.pem"
    if pem.exists():
        try:
            current = read_certificate(pem, openssl)
            month_left = subprocess.run(
                [openssl, "x509", "-in", str(pem), "-noout", "-checkend", str(30 * 86400)], capture_output=True
            )
            if {_normal(n) for n in names} <= set(current.names) and month_left.returncode == 0:
                return current
        except DoorError:
            pass  # made again below
    folder.mkdir(parents=True, exist_ok=True)
    alt = ",".join(f"IP:{n}" if _is_address(n) else f"DNS:{n}" for n in names)
    key, cert = folder / ".key.part", folder / ".cert.part"
    command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    command += ["-days", str(VALID_DAYS), "-subj", f"/CN={names[0]}/O=yolo-explorer (self-signed)"]
    command += ["-addext", f"subjectAltName={alt}", "-keyout", str(key), "-out", str(cert)]
    old_mask = os.umask(0o077)  # the key is readable by this user only
    try:
        made = subprocess.run(command, capture_output=True, text=True)
        if made.returncode != 0:
            raise DoorError(f"openssl could not make a certificate: {made.stderr.strip().splitlines()[-1:]}")
        partial = folder / ".selfsigned.pem.part"
        partial.write_text(cert.read_text() + key.read_text())
        os.replace(partial, pem)
    finally:
        os.umask(old_mask)
        key.unlink(missing_ok=True)
        cert.unlink(missing_ok=True)
    return read_certificate(pem, openssl)


def host_names() -> list[str]:
    """The names and addresses a class may type for this host: its host name and fully qualified name, localhost,
    and every address of its interfaces that is not a loopback's (and 127.0.0.1)."""
    names = [socket.gethostname(), socket.getfqdn(), "localhost"]
    addresses = ["127.0.0.1"]
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
        addresses += [a for a in out if _is_address(a)]
    except (OSError, subprocess.SubprocessError):
        pass
    return list(dict.fromkeys(n for n in names + addresses if n))


def default_folder() -> Path:
    """Where a self-signed certificate is kept between runs ($XDG_DATA_HOME/yolo-explorer/tls)."""
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "yolo-explorer" / "tls"


def _x509(openssl: str, path: Path, *options: str) -> str:
    run = subprocess.run([openssl, "x509", "-in", str(path), *options], capture_output=True, text=True)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["unreadable"])[-1]
        raise DoorError(f"{path}: openssl cannot read the certificate ({last})")
    return run.stdout


def _key_matches(openssl: str, path: Path) -> bool:
    cert = subprocess.run([openssl, "x509", "-in", str(path), "-noout", "-pubkey"], capture_output=True, text=True)
    key = subprocess.run([openssl, "pkey", "-in", str(path), "-pubout"], capture_output=True, text=True)
    return cert.returncode == 0 and key.returncode == 0 and cert.stdout.strip() == key.stdout.strip()


def _field(text: str, name: str) -> str:
    match = re.search(rf"{re.escape(name)}\s*=\s*(.+)", text)
    return match[1].strip() if match else ""


def _normal(name: str) -> str:
    """A host name as written, an address in its canonical form (openssl prints IPv6 in full)."""
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def expiry_days(tls: Tls) -> int | None:
    """Days until the certificate expires (None if its date cannot be read)."""
    try:
        end = datetime.datetime.strptime(tls.expires, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    return (end - datetime.datetime.now(datetime.UTC)).days
