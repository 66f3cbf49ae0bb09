"""`fluxnotify silence add|list|expire`: mute events for a while without editing Alerts.

Where the silences live (state/silences.py): serve's SQLite file (``--db``, the default:
env FLUXNOTIFY_DB or fluxnotify.db) or the state table on AWS (``--table``, or ``--stack
NAME``: its output DedupTableName). `add` prints the new silence's id on stdout; `list`
prints the active silences (``--all``: the recently ended too); `expire` ends one now.
serve applies a change within a second, a warm dispatcher Lambda within 30 s.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys
import time
from datetime import datetime
from typing import Any

from fluxnotify.model.duration import go_duration
from fluxnotify.state.silences import (
    DynamoSilences,
    Silence,
    SilenceError,
    SilenceStore,
    SqliteSilences,
    StaticSilences,
    added,
    expired,
    new_silence,
    parse_matchers,
    read_sqlite_file,
)
from fluxnotify.state.status import iso

TABLE_OUTPUT = "DedupTableName"  # the state table (template.yaml)
EXAMPLE = """\
examples:
  fluxnotify silence add --match kind=Kustomization,namespace=apps,name='web-*' --for 2h --comment "db migration"
  fluxnotify silence add --cluster prod --until 2026-12-24T18:00:00Z --comment "freeze" --stack fluxnotify
  fluxnotify silence list --all
  fluxnotify silence expire 3f9c2a61b0d4"""


def add_parser(commands: Any) -> None:
    silence = commands.add_parser("silence", help="mute events of some objects or clusters for a while",
                                  epilog=EXAMPLE, description=__doc__.split("\n\n")[0])
    actions = silence.add_subparsers(dest="action", required=True, metavar="ACTION",
                                     help="add, list or expire (each has --help)")
    add = actions.add_parser("add", help="add a silence; prints its id", epilog=EXAMPLE,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("--match", action="append", default=[], metavar="KEY=GLOB,…",
                     help="kind, namespace, name, reason: every one given must match ('*' is a glob); repeatable")
    add.add_argument("--cluster", default="", metavar="GLOB", help="only events from this cluster (default: any)")
    until = add.add_mutually_exclusive_group(required=True)
    until.add_argument("--for", dest="duration", metavar="DURATION", help="how long (Go syntax: 30m, 2h, 1h30m)")
    until.add_argument("--until", metavar="RFC3339", help="when it ends (e.g. 2026-12-24T18:00:00Z)")
    add.add_argument("--comment", default="", help="why (shown in every skip it causes)")
    add.add_argument("--author", default=_user(), help="who (default: the current user)")
    listing = actions.add_parser("list", help="list the active silences")
    listing.add_argument("--all", action="store_true", help="include those that ended in the last 7 days")
    listing.add_argument("-o", "--output", choices=("table", "json"), default="table", help="output format")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id", help="the silence's id (silence list shows it)")
    for sub in (add, listing, expire):
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--db", help="serve's SQLite file (default: env FLUXNOTIFY_DB or fluxnotify.db)")
        where.add_argument("--stack", metavar="NAME", help="the deployed stack (its state table)")
        where.add_argument("--table", metavar="NAME", help="the DynamoDB state table")
        sub.set_defaults(run=run)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def run(args: argparse.Namespace, session: Any = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _run(args, session)
    except SilenceError as err:
        print(f"fluxnotify: {err}", file=sys.stderr)
    except (BotoCoreError, ClientError) as err:
        print(f"fluxnotify: AWS error: {err}", file=sys.stderr)
    except sqlite3.Error as err:
        print(f"fluxnotify: {args.db}: {err}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace, session: Any) -> int:
    now = time.time()
    if args.action == "add":
        silence = new_silence(parse_matchers(args.match), args.cluster.strip(), _end(args, now), args.comment,
                              args.author or "", now)
    store = open_store(args, session)
    if args.action == "add":
        store.change(lambda current: added(current, silence, now))
        print(silence.id)
        print(f"fluxnotify: silence {silence.id} ({silence.describe()}) until {iso(silence.ends_at)}",
              file=sys.stderr)
    elif args.action == "expire":
        store.change(lambda current: expired(current, args.id, now))
        print(f"fluxnotify: silence {args.id} expired", file=sys.stderr)
    else:
        shown = sorted((s for s in store.load() if args.all or s.active(now)), key=lambda s: s.ends_at)
        print(json.dumps([_json(s, now) for s in shown], indent=2) if args.output == "json" else table(shown, now))
    return 0


def _end(args: argparse.Namespace, now: float) -> float:
    if args.duration is not None:
        try:
            return now + go_duration(args.duration)
        except ValueError:
            raise SilenceError(f"--for: {args.duration!r} is not a duration (Go syntax: 30m, 2h, 1h30m)") from None
    try:
        at = datetime.fromisoformat(args.until.strip().replace("z", "Z"))
    except ValueError:
        raise SilenceError(f"--until: {args.until!r} is not an RFC 3339 time (e.g. 2026-12-24T18:00:00Z)") from None
    if at.tzinfo is None:
        raise SilenceError(f"--until: {args.until!r} has no time zone (add Z or +01:00)")
    return at.timestamp()


def open_store(args: argparse.Namespace, session: Any = None) -> SilenceStore:
    if args.stack or args.table:
        if session is None:
            import boto3

            session = boto3.session.Session()
        table = args.table or stack_table(session.client("cloudformation"), args.stack)
        return DynamoSilences(table, session.client("dynamodb"))
    from fluxnotify.queue.sqlite import SqliteDatabase

    path = args.db or os.environ.get("FLUXNOTIFY_DB") or "fluxnotify.db"
    if not os.path.exists(path):
        raise SilenceError(f"{path}: no such local stack database (give --db, or --stack/--table for AWS)")
    args.db = path
    return SqliteSilences(SqliteDatabase(path))


def render_silences(path: str) -> StaticSilences:
    """`render --db FILE`: the silences of a serve database, read-only."""
    if not os.path.exists(path):
        raise SilenceError(f"--db {path}: no such local stack database")
    try:
        return StaticSilences(read_sqlite_file(path))
    except (sqlite3.Error, ValueError) as err:
        raise SilenceError(f"--db {path}: cannot read its silences: {err}") from None


def stack_table(cloudformation: Any, stack: str) -> str:
    (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    if not outputs.get(TABLE_OUTPUT):
        raise SilenceError(f"stack {stack} has no output {TABLE_OUTPUT}: pass --table")
    return outputs[TABLE_OUTPUT]


def state_text(silence: Silence, now: float) -> str:
    return f"until {iso(silence.ends_at)}" if silence.active(now) else f"ended {iso(silence.ends_at)}"


def _json(silence: Silence, now: float) -> dict[str, Any]:
    return {**silence.as_json(), "startsAt": iso(silence.starts_at), "endsAt": iso(silence.ends_at),
            "active": silence.active(now)}


def table(silences: list[Silence], now: float) -> str:
    if not silences:
        return "(no silence)"
    rows = [("ID", "MATCHES", "STATE", "BY", "COMMENT")] + [
        (s.id, s.describe(), state_text(s, now), s.created_by or "-", s.comment) for s in silences]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[4]]).rstrip()
                     for row in rows)
