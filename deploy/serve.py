"""Serve a class: N `streamlit run app.py` replicas behind HAProxy, in the foreground.

    deploy/serve                          # replicas to suit this host, the class connects to port 8501
    deploy/serve --replicas 4 --port 8501
    YOLO_EXPLORER_WEIGHTS_DIR=~/weights deploy/serve --replicas 8 --fetch yolo11n,yolo11s

One Streamlit process runs its Python on one core (one GIL), so a class needs several. Each replica
listens on 127.0.0.1 (ports P+1 ... P+N); HAProxy listens on P and sends every browser to one replica,
remembered in a cookie: a session's websocket, its uploads and its media must stay on the replica that
holds the session, and a class behind one NAT shares one address. HAProxy checks every replica's
`/_stcore/health` every 2 s, takes a replica that stops answering out, and sends new sessions to the
others; this script starts a replica that exited again. The replicas share the device lock (forwards on
one device run one at a time across them, `YOLO_EXPLORER_LOCK_DIR`) and one cookie secret (a browser's
XSRF token is valid on every replica).

Ctrl-C or SIGTERM stops HAProxy and every replica (and their children), and nothing is left listening.
HAProxy's status page (replicas up or down, sessions, bytes) is served on 127.0.0.1 only; its address is
printed at start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from door import (  # deploy/door.py: a script's own folder is on its path
    DoorError,
    Tls,
    User,
    default_folder,
    expiry_days,
    host_names,
    read_certificate,
    read_users,
    self_signed,
)
from guard import Limits, held_logins, show_table, upload_limit  # deploy/guard.py

ROOT = Path(__file__).resolve().parents[1]

COOKIE = "yolo_explorer_replica"  # HAProxy's stickiness cookie: which replica holds this browser's session
HEALTH = "/_stcore/health"
USERLIST, REALM = "class", "yolo-explorer"
START_TIMEOUT_S = 300  # a replica's warm-up (imports, the first page) takes seconds; a loaded host longer


def default_replicas() -> int:
    """One replica per two cores (a replica's Python uses one core; forwards and the browsers' traffic the
    rest), at least one, at most eight."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen | None = None
    started: float = 0.0
    restarts: list[float] = field(default_factory=list)


def haproxy_config(
    host: str,
    port: int,
    replicas: list[Replica],
    stats_port: int,
    also: list[str],
    tls: Tls | None = None,
    http_port: int | None = None,
    users: list[User] | None = None,
    limits: Limits | None = None,
    runtime: Path | None = None,
) -> str:
    """HAProxy's configuration: one frontend for the class (with TLS, a plain-HTTP port that redirects to it; with
    users, HTTP basic authentication on every path; the door's `limits`), one backend of replicas, a local status
    page, and with `runtime` its runtime API on that unix socket (what deploy/serve reads the held logins from)."""
    limits = limits or Limits(upload_bytes=upload_limit(ROOT / ".streamlit" / "config.toml"))
    servers = [f"    server {r.name} 127.0.0.1:{r.port} cookie {r.name}" for r in replicas]
    servers += [f"    server remote{i} {address} cookie remote{i}" for i, address in enumerate(also, start=1)]
    binds, rules = [], []
    if tls is not None:
        binds.append(f"    bind {host}:{port} ssl crt {tls.pem} alpn http/1.1")
        if http_port is not None:
            binds.append(f"    bind {host}:{http_port}")
            # http://host:8080/page?x -> https://host:8501/page?x, before any credentials are asked for
            rules.append(
                f"    http-request redirect location https://%[req.hdr(host),field(1,:)]:{port}%[capture.req.uri] "
                "code 301 unless { ssl_fc }"
            )
        rules.append("    http-response set-header Strict-Transport-Security max-age=86400 if { ssl_fc }")
    else:
        binds.append(f"    bind {host}:{port}")
    door = binds + limits.connection_rules() + rules + limits.request_rules(USERLIST if users else None)
    if users:
        # every path: the pages, the websocket (/_stcore/stream), uploads, media, and /_stcore/health; HAProxy's own
        # checks go to the replicas directly
        door.append(f'    http-request auth realm "{REALM}" unless {{ var(txn.ok) -m bool }}')
        door.append("    http-request del-header Authorization  # the replicas need not see the password")
    userlist = [f"userlist {USERLIST}", *(f"    user {u.name} password {u.hash}" for u in users)] if users else []
    return "\n".join(
        [
            "global",
            "    maxconn 4096",  # replicas going up or down are reported as warnings on stderr
            *([f"    stats socket {runtime} mode 600 level admin"] if runtime else []),
            "defaults",
            "    mode http",
            "    option redispatch  # a session whose replica is down goes to another one",
            "    retries 2",
            "    timeout connect 5s",
            "    timeout client 120s",
            "    timeout server 600s  # a first forward at a large size on a busy CPU",
            f"    timeout http-request {limits.header_timeout_s}s  # a request's headers, slow clients cut off",
            "    timeout tunnel 8h  # the websocket of a session open for a whole class",
            *userlist,
            *limits.tables(),
            "frontend class",
            *door,
            "    default_backend replicas",
            "backend replicas",
            "    balance leastconn  # a new session goes to the replica with the fewest open connections",
            f"    cookie {COOKIE} insert indirect nocache httponly",
            f"    option httpchk GET {HEALTH}",
            "    http-check expect status 200",
            "    timeout check 20s  # a busy replica answers late; a dead one refuses at once",
            "    default-server check inter 2s fall 2 rise 1",
            *servers,
            "listen status",
            f"    bind 127.0.0.1:{stats_port}",
            "    stats enable",
            "    stats uri /",
            "    stats refresh 5s",
            "",
        ]
    )


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(taken: set[int] = frozenset()) -> int:
    """A free port on loopback that is none of `taken` (ports this server is about to bind, free until it does)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port


def accepting(host: str, port: int) -> bool:
    """Whether something accepts connections on `host`:`port` (loopback for an address of every interface)."""
    address = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def healthy(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH}", timeout=1).read() == b"ok"
    except OSError:
        return False


def relay(prefix: str, stream) -> None:
    """Copy a child's output to ours, each line prefixed with its name."""
    for line in iter(stream.readline, ""):
        print(f"[{prefix}] {line.rstrip()}", flush=True)


def spawn(command: list[str], name: str, env: dict[str, str]) -> subprocess.Popen:
    # its own process group: a stop reaches its children too (torch.compile's workers), and Ctrl-C in the
    # terminal reaches only this script, which then stops everything in order
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    threading.Thread(target=relay, args=(name, proc.stdout), daemon=True).start()
    return proc


def stop(procs: list[subprocess.Popen], grace_s: float = 15.0) -> None:
    """SIGTERM to every process group, then SIGKILL to what is left after `grace_s`."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group: also children left behind by a replica that exited
        proc.wait()


class LoginWatch:
    """Says on this script's output each name HAProxy holds back from an address, once per hold."""

    def __init__(self, runtime: Path, limits: Limits):
        self.runtime, self.limits, self.said = runtime, limits, set()

    def report(self) -> None:
        try:
            held = held_logins(show_table(self.runtime))
        except OSError:  # HAProxy starting or stopping: next time
            return
        now = {(h.address, h.user) for h in held}
        for h in held:
            if (h.address, h.user) not in self.said:
                minutes = max(1, round(self.limits.login_hold_s / 60))
                print(
                    f"deploy/serve: {h.address}: {h.failures} failed logins as {h.user!r} in a minute, held back for "
                    f"{minutes} min (429 until then; other names from there are let in)",
                    flush=True,
                )
        self.said = now  # a name let in again and held later is said again


class Stop(Exception):
    """SIGTERM or SIGINT arrived."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploy/serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--replicas", type=int, default=default_replicas(), help="streamlit processes (default: %(default)s here)"
    )
    parser.add_argument("--port", type=int, default=8501, help="the port the class connects to (default: %(default)s)")
    parser.add_argument("--host", default="0.0.0.0", help="the address HAProxy listens on (default: every interface)")
    parser.add_argument("--replica-port", type=int, help="the first replica's port, on 127.0.0.1 (default: PORT + 1)")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a replica on another host, also behind this proxy (it must share STREAMLIT_SERVER_COOKIE_SECRET)",
    )
    parser.add_argument(
        "--restart-after", type=float, default=2.0, metavar="S", help="seconds before a replica that exited starts again"
    )
    parser.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy", help="HAProxy's executable")
    parser.add_argument(
        "--fetch",
        metavar="NAMES",
        help="before starting, fetch these of Ultralytics' trained checkpoints (AGPL-3.0) into the weights folder, "
        "e.g. yolo11n,yolo11s: every session is offered them (YOLO_EXPLORER_FETCH=off keeps the app from downloading)",
    )
    door = parser.add_argument_group("the class's door")
    secure = door.add_mutually_exclusive_group()
    secure.add_argument(
        "--cert",
        type=Path,
        metavar="FILE.pem",
        help="serve HTTPS with this certificate (a PEM of the chain and its unencrypted key): the camera needs it",
    )
    secure.add_argument(
        "--self-signed",
        action="store_true",
        help="serve HTTPS with a self-signed certificate for this host's names, made once with openssl and reused "
        f"(kept in {default_folder()}); its fingerprint is printed for the class to check",
    )
    door.add_argument(
        "--http-port",
        type=int,
        default=8080,
        help="with HTTPS: a plain-HTTP port that redirects to it (default: %(default)s; 0: none)",
    )
    door.add_argument(
        "--users",
        type=Path,
        metavar="FILE",
        help="only these users (name:hash per line, as `deploy/users add FILE NAME` or `openssl passwd -6` writes): "
        "every path asks for a name and password",
    )
    limits = parser.add_argument_group("the door's limits (the defaults suit 50 students behind one NAT address)")
    limits.add_argument(
        "--login-failures",
        type=int,
        default=Limits.login_failures,
        metavar="N",
        help="failed logins of one name from one address in a minute before that name is held back there "
        "(default: %(default)s; a student mistypes 2 or 3 times, a script guesses 77 times a second)",
    )
    limits.add_argument(
        "--login-hold", type=int, default=Limits.login_hold_s, metavar="S", help="seconds it is held back (default: %(default)s)"
    )
    limits.add_argument(
        "--header-timeout",
        type=int,
        default=Limits.header_timeout_s,
        metavar="S",
        help="seconds a client has to send a request's headers (default: %(default)s; a browser needs milliseconds)",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=Limits.max_connections,
        metavar="N",
        help="connections one address may hold open (default: %(default)s; a browser opens up to 7, 50 of them 350)",
    )
    args = parser.parse_args(argv)
    try:
        door_limits = Limits(
            upload_bytes=upload_limit(ROOT / ".streamlit" / "config.toml"),
            login_failures=args.login_failures,
            login_hold_s=args.login_hold,
            header_timeout_s=args.header_timeout,
            max_connections=args.max_connections,
        )
    except ValueError as err:
        parser.error(str(err))
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if not Path(args.haproxy).exists():
        print("deploy/serve: HAProxy is not installed: sudo apt-get install haproxy (Debian/Ubuntu)", file=sys.stderr)
        return 2
    try:
        users = read_users(args.users) if args.users else None
        tls = read_certificate(args.cert) if args.cert else None
        if args.self_signed:
            names = host_names() if args.host in ("0.0.0.0", "::") else list(dict.fromkeys([args.host, *host_names()]))
            tls = self_signed(default_folder(), names)
    except DoorError as err:
        print(f"deploy/serve: {err}; nothing was started", file=sys.stderr)
        return 2
    except FileNotFoundError:  # no openssl
        print("deploy/serve: openssl is not installed: sudo apt-get install openssl; nothing was started", file=sys.stderr)
        return 2
    http_port = args.http_port if tls is not None and args.http_port else None
    first = args.replica_port or args.port + 1
    replicas = [Replica(f"r{i + 1}", first + i) for i in range(args.replicas)]
    wanted = [args.port, *(r.port for r in replicas), *([http_port] if http_port else [])]
    busy = [p for p in wanted if not port_is_free("127.0.0.1", p) or not port_is_free(args.host, p)]
    if busy:
        print(f"deploy/serve: port(s) {', '.join(map(str, busy))} already in use; pick --port (or --http-port)", file=sys.stderr)
        return 2

    if args.fetch:
        names = [name.strip() for name in args.fetch.split(",") if name.strip()]
        fetched = subprocess.run([sys.executable, "-m", "yolo_explorer", "weights", "fetch", *names], cwd=ROOT)
        if fetched.returncode != 0:
            print("deploy/serve: the weights could not be fetched (above); nothing was started", file=sys.stderr)
            return fetched.returncode

    def on_signal(signum, frame):
        raise Stop

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    env = dict(os.environ)
    env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(32))  # one XSRF secret for every replica
    workdir = Path(tempfile.mkdtemp(prefix="yolo-explorer-serve-"))
    stats_port = free_port({args.port, http_port, *(r.port for r in replicas)})
    config = workdir / "haproxy.cfg"
    runtime = workdir / "haproxy.sock"  # HAProxy's runtime API: the held logins are read from it
    config.write_text(
        haproxy_config(args.host, args.port, replicas, stats_port, args.also, tls, http_port, users, door_limits, runtime)
    )
    watch = LoginWatch(runtime, door_limits) if users else None
    procs: list[subprocess.Popen] = []
    proxy = None

    def start(replica: Replica) -> None:
        command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(replica.port)]
        command += ["--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        replica.proc, replica.started = spawn(command, replica.name, env), time.monotonic()
        procs.append(replica.proc)

    try:
        check = subprocess.run([args.haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            print(f"deploy/serve: HAProxy refused its configuration:\n{check.stdout}{check.stderr}", file=sys.stderr)
            return 1
        print(
            f"Starting {len(replicas)} replica(s) of yolo-explorer on 127.0.0.1:{first}-{first + len(replicas) - 1}…", flush=True
        )
        for replica in replicas:
            start(replica)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(healthy(r.port) for r in replicas):
            dead = [r for r in replicas if r.proc.poll() is not None]
            if dead:
                print(
                    f"deploy/serve: replica {dead[0].name} exited with {dead[0].proc.returncode} while starting", file=sys.stderr
                )
                return 1
            if time.monotonic() > deadline:
                print(f"deploy/serve: the replicas did not answer {HEALTH} in {START_TIMEOUT_S} s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        proxy = spawn([args.haproxy, "-db", "-f", str(config)], "haproxy", env)
        procs.append(proxy)
        deadline = time.monotonic() + 30
        while not accepting(args.host, args.port):  # the address is announced once it answers, not before
            if proxy.poll() is not None:
                print(f"deploy/serve: HAProxy exited with {proxy.returncode} while starting", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"deploy/serve: HAProxy did not listen on port {args.port} in 30 s", file=sys.stderr)
                return 1
            time.sleep(0.05)
        shown = socket.gethostname() if args.host in ("0.0.0.0", "::") else args.host
        scheme = "https" if tls else "http"
        print(
            f"Serving the class at {scheme}://{shown}:{args.port} ({len(replicas)} replica(s) behind HAProxy"
            + (f", and {len(args.also)} on other hosts" if args.also else "")
            + f"). HAProxy's status page, this machine only: http://127.0.0.1:{stats_port}/ . Ctrl-C stops everything.",
            flush=True,
        )
        if tls is not None:
            left = expiry_days(tls)
            print(
                f"HTTPS with {tls.pem} for {', '.join(tls.names)}"
                + (f" ({left} days left)" if left is not None else "")
                + f"; SHA-256 fingerprint {tls.fingerprint}"
                + (f"; http://{shown}:{http_port} redirects to it" if http_port else ""),
                flush=True,
            )
        if users:
            print(f"Only the {len(users)} user(s) of {args.users} get in (HTTP basic authentication on every path).", flush=True)
        while True:
            time.sleep(1.0)
            if watch is not None:
                watch.report()
            if proxy.poll() is not None:
                print(f"deploy/serve: HAProxy exited with {proxy.returncode}; stopping", file=sys.stderr)
                return 1
            for replica in replicas:
                if replica.proc.poll() is None:
                    continue
                now = time.monotonic()
                replica.restarts = [t for t in replica.restarts if now - t < 300]
                if len(replica.restarts) >= 3:
                    continue  # it keeps dying: leave it out (HAProxy already does), the others go on
                print(
                    f"deploy/serve: replica {replica.name} exited with {replica.proc.returncode}; HAProxy sends its sessions "
                    f"to the others; starting it again" + (" (last try for 5 minutes)" if len(replica.restarts) == 2 else ""),
                    flush=True,
                )
                procs.remove(replica.proc)
                stop([replica.proc], grace_s=1)
                time.sleep(args.restart_after)
                replica.restarts.append(now)
                start(replica)
    except Stop:
        print("Stopping HAProxy and the replicas…", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(([proxy] if proxy else []) + [p for p in procs if p is not proxy])
        shutil.rmtree(workdir, ignore_errors=True)
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
