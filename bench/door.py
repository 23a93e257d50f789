"""A password guesser at the class's door: N wrong passwords for a real user name, one after another, through
`deploy/serve` (HTTPS, a users file, one replica) with the door's default limits, and once more with the throttle
off (a limit no guesser reaches): how each was answered (401: checked; 429: held back, not checked), how fast,
HAProxy's CPU time, whether the right password for that name and another name get in, and what deploy/serve said.
Prints numbers; no pass/fail.

    python bench/door.py                 # 300 guesses, as the issue that asked for the throttle measured
    python bench/door.py --guesses 15    # the smoke run
"""

from __future__ import annotations

import argparse
import base64
import collections
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from class_load import PASSWORD, USER, class_server, cpu_seconds  # bench/class_load.py

OTHER = "teacher"
CONTEXT = ssl._create_unverified_context()  # the self-signed certificate the class accepts once


def status(url: str, user: str | None, password: str) -> int:
    request = urllib.request.Request(url)
    if user is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30, context=CONTEXT) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def haproxy_pid(work: Path) -> int:
    """The HAProxy that deploy/serve started for this run (its configuration is in a folder of its own)."""
    found = subprocess.run(["pgrep", "-n", "-f", "haproxy -db -f /tmp/yolo-explorer-serve-"], capture_output=True, text=True)
    return int(found.stdout.split()[0])


def guess(guesses: int, throttle: bool) -> None:
    extra = () if throttle else ("--login-failures", str(10**9))
    with tempfile.TemporaryDirectory() as work, class_server(1, Path(work), (USER, OTHER), extra) as (base, _):
        url = f"{base}/_stcore/health"
        proxy = haproxy_pid(Path(work))
        cpu, start = cpu_seconds([proxy]), time.perf_counter()
        answers = collections.Counter(status(url, USER, f"guess {i}") for i in range(guesses))
        wall, cpu = time.perf_counter() - start, cpu_seconds([proxy]) - cpu
        right, other = status(url, USER, PASSWORD), status(url, OTHER, PASSWORD)
        time.sleep(2.5)  # deploy/serve reads HAProxy's table every second
        said = [line for line in (Path(work) / "serve.log").read_text().splitlines() if "held back" in line]
    codes = ", ".join(f"{n} answered {code}" for code, n in sorted(answers.items()))
    print(f"## {'default limits' if throttle else 'throttle off'}: {guesses} wrong passwords for {USER!r}, one after another")
    print(f"{codes}; {wall:.1f} s ({guesses / wall:.0f} a second); HAProxy's CPU {cpu:.2f} s")
    print(f"then {USER!r} with the right password: {right}; {OTHER!r} with the right password: {other}")
    print("deploy/serve said: " + (said[0].split("deploy/serve: ", 1)[-1] if said else "nothing"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guesses", type=int, default=300)
    args = parser.parse_args()
    print(f"# yolo-explorer's door against a password guesser, {time.strftime('%Y-%m-%d')}, deploy/serve with HTTPS")
    for throttle in (True, False):
        guess(args.guesses, throttle)


if __name__ == "__main__":
    main()
