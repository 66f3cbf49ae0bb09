"""`fluxnotify serve`: its arguments and its run (the stack itself is ops/local.py)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

from fluxnotify.model.manifests import ManifestError
from fluxnotify.ops import cluster_admin
from fluxnotify.ops.logs import configure_logging
from fluxnotify.settings import Settings

EXAMPLE = """\
examples:
  fluxnotify serve -f examples/local.yaml
  fluxnotify serve -f manifests/ --port 8080 --db /var/lib/fluxnotify/queue.db --strict
  kill -HUP <pid>    # reload the configuration now (a changed file is reloaded by itself)

The status page is http://127.0.0.1:PORT/status (loopback clients only)."""


def add_parser(commands, files_help: str) -> argparse.ArgumentParser:
    serve = commands.add_parser("serve", help="run the local stack (receiver, SQLite queue, dispatcher)",
                                epilog=EXAMPLE)
    serve.add_argument("--config", "-f", action="extend", nargs="+", required=True, metavar="FILE",
                       help=files_help + "; reloaded on SIGHUP and when they change")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=9292, help="port of the receiver endpoint and its /status page")
    serve.add_argument("--db", default=os.environ.get("FLUXNOTIFY_DB", "fluxnotify.db"),
                       help="SQLite file for the queue, dead letters and dedup (env FLUXNOTIFY_DB); "
                            "one serve per file")
    serve.add_argument("--reset-db", action="store_true",
                       help="start with an empty database (deleted only once the ports and the file are ours)")
    serve.add_argument("--strict", action="store_true",
                       help="refuse to start (and to reload) while any Provider or Alert is not Ready")
    serve.add_argument("--workers", type=int, default=4, help="dispatcher threads")
    serve.add_argument("--token", default=os.environ.get("WEBHOOK_TOKEN"),
                       help="require this webhook token (POST /<token> or X-Signature; env WEBHOOK_TOKEN), "
                            "cluster default")
    serve.add_argument("--cluster", action="append", default=[], metavar="NAME=TOKEN",
                       help="accept TOKEN as the webhook token of cluster NAME (repeatable)")
    serve.add_argument("--rate-limit-interval", type=float, metavar="SECONDS",
                       default=float(os.environ.get("RATE_LIMIT_INTERVAL", "300")),
                       help="window in which a duplicate event gets 429 (env RATE_LIMIT_INTERVAL; 0: off)")
    serve.add_argument("--max-backlog", type=int, metavar="EVENTS",
                       help="events waiting for the dispatcher at most; beyond, new events get 503 with "
                            "Retry-After (env MAX_BACKLOG, default 10000; 0: no bound)")
    serve.add_argument("--sink", metavar="HOST:PORT",
                       help="also run an endpoint that prints every notification it receives")
    serve.add_argument("--post", metavar="EVENT.json", action="append", default=[],
                       help="once started, POST this Flux event to the stack (demo)")
    serve.add_argument("--status-addr", metavar="HOST:PORT",
                       help="serve the status page on this address instead of the receiver's /status "
                            "(empty: no page)")
    serve.add_argument("--read-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="time a client has to send each request")
    serve.add_argument("--max-connections", type=int, default=512, metavar="N",
                       help="open connections at most; more get 503")
    serve.add_argument("--no-cross-namespace-refs", action="store_true",
                       default=os.environ.get("NO_CROSS_NAMESPACE_REFS", "").lower() == "true",
                       help="an Alert only takes events of its own namespace (env NO_CROSS_NAMESPACE_REFS)")
    serve.set_defaults(run=run)
    return serve


def say(line: str) -> None:
    print(f"fluxnotify: {line}", file=sys.stderr, flush=True)


def fail(message: str, code: int = 2) -> int:
    say(message)
    return code


def run(args) -> int:
    import sqlite3

    from fluxnotify.ops.dblock import DatabaseBusy
    from fluxnotify.ops.local import LocalStack, NotReady, PrintingSink
    from fluxnotify.ops.signals import StopSignals

    stop = StopSignals()
    stacks: list = []
    signal.signal(signal.SIGHUP, lambda *_: [stack.reload() for stack in stacks])  # the config is read below
    configure_logging("INFO")
    try:
        settings = Settings.from_env()
    except ValueError as err:
        return fail(str(err))
    # Flags over the environment; the dispatcher's child process gets the settings.
    if args.max_backlog is not None:
        settings = settings.but(max_backlog=args.max_backlog)
    settings = settings.but(rate_limit_interval=args.rate_limit_interval,
                            no_cross_namespace_refs=settings.no_cross_namespace_refs or args.no_cross_namespace_refs)
    try:
        tokens = cluster_admin.serve_tokens(args.token, args.cluster)
    except cluster_admin.ClusterError as err:
        return fail(str(err))
    if args.sink:
        host, _, port = args.sink.rpartition(":")
        try:
            PrintingSink(host or "127.0.0.1", int(port)).start()
        except (OSError, ValueError) as err:
            return fail(f"cannot listen on {args.sink} (--sink): {getattr(err, 'strerror', None) or err}")
    try:
        stack = LocalStack(args.config, host=args.host, port=args.port, database=args.db,
                           workers=args.workers, token=tokens, separate_process=True,
                           read_timeout=args.read_timeout, max_connections=args.max_connections,
                           status_addr=args.status_addr, reset_db=args.reset_db, strict=args.strict,
                           report=say, settings=settings)
    except NotReady as err:
        _summary(err.conditions, None)
        return fail(str(err), 1)
    except (ManifestError, ValueError, DatabaseBusy) as err:
        return fail(str(err))
    except sqlite3.Error as err:
        return fail(f"{args.db}: cannot use the database: {err}")
    except OSError as err:
        return fail(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}")
    _summary(stack.config.current.not_ready, stack.config.current.summary())
    try:
        stack.start()
    except RuntimeError as err:
        return fail(str(err))
    stacks.append(stack)
    say(f"receiving Flux events on {stack.url}/ (queue: {args.db}); Ctrl-C to stop")
    if stack.status_page is not None:
        say(f"status page on {stack.status_page.url}")
    demo_token = next((values[-1] for values in (tokens or {}).values()), None)
    for path in args.post:
        _post_example(stack.url, path, demo_token)
    signum = stop.wait()
    say(f"stopping ({signum.name})")
    stack.stop()
    return 0


def _summary(not_ready: list, summary: str | None) -> None:
    """What `validate` would say, in short: the count, then each object that is not Ready."""
    if summary is not None:
        say(f"configuration: {summary}")
    from fluxnotify.ops.reload import problem_line

    for condition in not_ready:
        say(f"  {problem_line(condition)}")
    if not_ready and summary is not None:
        say("  (events for these are dead-lettered; fix the files and they are reloaded, or use --strict)")


def _post_example(url: str, path: str, token: str | None) -> None:
    body = Path(path).read_bytes()
    target = f"{url}/{token}" if token else f"{url}/"
    request = urllib.request.Request(target, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            say(f"posted {path}: HTTP {answer.status}")
    except urllib.error.HTTPError as err:
        say(f"posted {path}: HTTP {err.code} {err.read().decode()}")
