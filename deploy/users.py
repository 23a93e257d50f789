"""The class's users for `deploy/serve --users FILE`: one `name:hash` line each, the hash SHA-512 crypt(3) as
`openssl passwd -6` writes it (HAProxy checks it; the password itself is never stored).

    deploy/users add class.users alice            # asks for the password twice
    printf 'pw\\npw\\n' | deploy/users add class.users bob    # or from standard input
    deploy/users remove class.users alice
    deploy/users list class.users

The file is written whole to a temporary file and renamed into place, readable by its owner only.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from door import USER_NAME, DoorError, User, hash_password, read_users  # deploy/door.py: a script's own folder is on its path


def write(path: Path, users: list[User]) -> None:
    partial = path.with_name(f".{path.name}.part")
    old_mask = os.umask(0o077)
    try:
        partial.write_text("".join(f"{u.name}:{u.hash}\n" for u in users))
        os.replace(partial, path)
    finally:
        os.umask(old_mask)


def ask_password(name: str) -> str:
    if not sys.stdin.isatty():  # piped: one line, or the same line twice
        lines = sys.stdin.read().splitlines()
        if not lines or not lines[0] or (len(lines) > 1 and lines[1] != lines[0]):
            raise DoorError("give the password on standard input (once, or twice the same)")
        return lines[0]
    first = getpass.getpass(f"Password for {name}: ")
    if not first or getpass.getpass("Again: ") != first:
        raise DoorError("the passwords are empty or differ; nothing was changed")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploy/users", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["add", "remove", "list"])
    parser.add_argument("file", type=Path)
    parser.add_argument("name", nargs="?")
    args = parser.parse_args(argv)
    try:
        users = read_users(args.file) if args.file.exists() or args.action != "add" else []
        if args.action == "list":
            print("\n".join(u.name for u in users))
            return 0
        if not args.name or not USER_NAME.match(args.name):
            raise DoorError("give a NAME of letters, digits and ._@+- (up to 64)")
        kept = [u for u in users if u.name != args.name]
        if args.action == "remove":
            if len(kept) == len(users):
                raise DoorError(f"{args.name!r} is not in {args.file}")
            if not kept:
                raise DoorError(f"{args.name!r} is the last user of {args.file}: delete the file instead")
            write(args.file, kept)
            print(f"removed {args.name} from {args.file}")
            return 0
        hashed = hash_password(ask_password(args.name))
        write(args.file, [*kept, User(args.name, hashed)])
        print(f"{'changed the password of' if len(kept) < len(users) else 'added'} {args.name} in {args.file}")
    except DoorError as err:
        print(f"deploy/users: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
