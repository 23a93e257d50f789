"""`weights`: Ultralytics' trained checkpoints, listed and fetched into the weights folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..model.pretrained import LICENCE, RELEASES, FetchError, fetch, find_release, present
from .common import BadArgument, Parser, RunFailed, Subcommands


def register(sub: Subcommands) -> None:
    p = sub.add_parser("weights", help=f"Ultralytics' trained YOLO11 checkpoints ({LICENCE}): list them, fetch them")
    actions = p.add_subparsers(dest="action", required=True, parser_class=Parser)
    for action, text in (("list", "the checkpoints, and which are in the weights folder"), ("fetch", "download checkpoints")):
        q = actions.add_parser(action, help=text)
        if action == "fetch":
            q.add_argument("names", nargs="+", metavar="NAME", help=f"checkpoints to fetch: {', '.join(RELEASES)}")
            q.add_argument(
                "--url",
                help="fetch from this base URL instead (a mirror; default: YOLO_EXPLORER_WEIGHTS_URL, else Ultralytics' release)",
            )
            q.add_argument("--timeout", type=float, default=30.0, help="seconds without data before giving up (default 30)")
        q.add_argument(
            "--dir",
            type=Path,
            help="the weights folder (default: YOLO_EXPLORER_WEIGHTS_DIR, else the per-user cache: "
            "$XDG_CACHE_HOME/yolo-explorer/weights or ~/.cache/yolo-explorer/weights)",
        )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    folder = args.dir or args.env.weights_dir
    if args.action == "list":
        here = present(folder)
        print(f"Ultralytics' YOLO11 checkpoints ({LICENCE}); weights folder: {folder}")
        print(f"{'name':<13} {'task':<8} {'size':>9}  {'SHA-256':<9}  in the folder")
        for name, release in RELEASES.items():
            pinned = "pinned" if release.sha256 else "-"
            size = release.megabytes if release.size else "?"
            print(f"{name:<13} {release.task:<8} {size:>9}  {pinned:<9}  {here.get(name, '-')}")
        print("fetch: python -m yolo_explorer weights fetch yolo11n [yolo11s ...]")
        return
    try:
        releases = [find_release(name) for name in args.names]
    except KeyError as err:
        raise BadArgument(err.args[0]) from None
    failed, mirror = 0, args.url or args.env.weights_url
    for release in releases:
        bar = _ProgressBar(release.file)
        try:
            fetched = fetch(release, folder, base_url=mirror, timeout=args.timeout, progress=bar, wait=bar.waiting)
        except FetchError as err:
            bar.close()
            print(f"{release.file}: {err}", file=sys.stderr)
            failed += 1
            continue
        bar.close()
        how = "fetched" if fetched.downloaded else "already there"
        print(f"{fetched.path}  {how}, SHA-256 {fetched.sha256} ({LICENCE}, Ultralytics)")
    if failed:
        raise RunFailed(f"{failed} of {len(releases)} checkpoints could not be fetched")


class _ProgressBar:
    """A download's progress on stderr: a bar redrawn in place on a terminal, one line at the end elsewhere."""

    WIDTH = 30

    def __init__(self, name: str):
        self.name, self.shown, self.live = name, -1, sys.stderr.isatty()

    def __call__(self, done: int, total: int | None, verb: str = "downloading") -> None:
        if not self.live:
            return
        if total:
            filled = min(self.WIDTH, self.WIDTH * done // total)
            text = f"{self.name} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done / 1e6:5.1f}/{total / 1e6:.1f} MB"
        else:
            text = f"{self.name} {done / 1e6:5.1f} MB"
        step = done * 100 // total if total else done // 2**20
        if step != self.shown:
            self.shown = step
            print(f"\r{verb} {text}", end="", file=sys.stderr, flush=True)

    def waiting(self, done: int, total: int | None) -> None:
        self(done, total, verb="another process is downloading")

    def close(self) -> None:
        if self.live and self.shown >= 0:
            print(file=sys.stderr)
