"""`fluxnotify` command line: serve, render, validate (see DESIGN.md "Command line")."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path

from fluxnotify._version import VERSION as __version__
from fluxnotify.model.event import EventError, parse_event, validate_event
from fluxnotify.model.manifests import ManifestError
from fluxnotify.ops import cluster_admin
from fluxnotify.ops.logs import configure_logging
from fluxnotify.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fluxnotify", description="Flux notifications, serverless.",
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"fluxnotify {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the local stack (receiver, SQLite queue, dispatcher)")
    serve.add_argument("--config", "-f", action="extend", nargs="+", required=True, metavar="FILE",
                       help=FILES_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=9292, help="port of the receiver endpoint")
    serve.add_argument("--db", default=os.environ.get("FLUXNOTIFY_DB", "fluxnotify.db"),
                       help="SQLite file for the queue, dead letters and dedup (env FLUXNOTIFY_DB)")
    serve.add_argument("--workers", type=int, default=4, help="dispatcher threads")
    serve.add_argument("--token", default=os.environ.get("WEBHOOK_TOKEN"),
                       help="require this webhook token (POST /<token> or X-Signature; env WEBHOOK_TOKEN), "
                            "cluster default")
    serve.add_argument("--cluster", action="append", default=[], metavar="NAME=TOKEN",
                       help="accept TOKEN as the webhook token of cluster NAME (repeatable)")
    serve.add_argument("--sink", metavar="HOST:PORT",
                       help="also run an endpoint that prints every notification it receives")
    serve.add_argument("--post", metavar="EVENT.json", action="append", default=[],
                       help="once started, POST this Flux event to the stack (demo)")
    serve.add_argument("--status-addr", metavar="HOST:PORT",
                       help="status page address (default 127.0.0.1:9294; empty: no page)")
    serve.add_argument("--read-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="time a client has to send each request (default: 10)")
    serve.add_argument("--max-connections", type=int, default=512, metavar="N",
                       help="open connections at most; more get 503 (default: 512)")
    serve.add_argument("--no-cross-namespace-refs", action="store_true",
                       default=os.environ.get("NO_CROSS_NAMESPACE_REFS", "").lower() == "true",
                       help="an Alert only takes events of its own namespace (env NO_CROSS_NAMESPACE_REFS)")
    serve.set_defaults(run=_serve)

    render = commands.add_parser("render", help="show what each Provider would send for an event")
    render.add_argument("-f", "--file", action="extend", nargs="+", required=True, metavar="MANIFESTS.yaml",
                        help=FILES_HELP)
    render.add_argument("--event", required=True, metavar="EVENT.json",
                        help="the event as a Flux controller posts it (prefixed metadata keys)")
    render.add_argument("--cluster", default="", metavar="NAME",
                        help="plan as if the event came from this cluster (its webhook token)")
    render.add_argument("--no-cross-namespace-refs", action="store_true",
                        help="plan as serve --no-cross-namespace-refs would (env NO_CROSS_NAMESPACE_REFS)")
    render.set_defaults(run=_render)

    validate = commands.add_parser("validate", help="print the Ready condition of each Provider and Alert")
    source = validate.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--file", action="extend", nargs="+", metavar="MANIFESTS.yaml", help=FILES_HELP)
    source.add_argument("--from-aws", action="store_true",
                        help="validate what is stored in SSM / Secrets Manager instead of files")
    validate.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    validate.add_argument("--state-table", default=os.environ.get("STATE_TABLE"),
                          help="with --from-aws: add the Delivering condition from this table (env STATE_TABLE)")
    _prefix_arguments(validate)
    validate.set_defaults(run=_validate)

    imports = commands.add_parser("import", help="write manifests to SSM / Secrets Manager")
    imports.add_argument("-f", "--file", action="extend", nargs="+", required=True, metavar="MANIFESTS.yaml",
                         help=FILES_HELP)
    imports.add_argument("--prune", action="store_true",
                         help="delete stored Providers, Alerts and Secrets that are not in the files")
    imports.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    imports.add_argument("--force", action="store_true", help="import even when objects are not Ready")
    _prefix_arguments(imports)
    imports.set_defaults(run=_import)

    export = commands.add_parser("export", help="write the stored Providers and Alerts as Flux YAML")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    _prefix_arguments(export)
    export.set_defaults(run=_export)

    replay = commands.add_parser("replay", help="move dead letters back to the events queue")
    replay.add_argument("--dry-run", action="store_true", help="list what would move, move nothing")
    replay.add_argument("--limit", type=int, help="move at most this many (SQS)")
    replay.add_argument("--db", help="the local stack's SQLite file (instead of SQS)")
    replay.add_argument("--queue-url", default=os.environ.get("QUEUE_URL"), help="events queue (env QUEUE_URL)")
    replay.add_argument("--dlq-url", default=os.environ.get("DLQ_URL"), help="dead-letter queue (env DLQ_URL)")
    replay.set_defaults(run=_replay)

    status = commands.add_parser("status", help="delivery status of each Provider and Alert, queue, dead letters")
    _status_arguments(status)
    status.set_defaults(run=_status)
    cluster_admin.add_parser(commands)
    for listed in commands._choices_actions:  # every subcommand: its purpose and its defaults
        command = commands.choices[listed.dest]
        command.formatter_class = _HelpFormatter
        command.description = command.description or listed.help
    return parser


FILES_HELP = ("Flux Provider/Alert/Secret YAML: files or directories (their *.yaml/*.yml); "
              "several after one -f, and -f repeatable")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: …)' where there is a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS) or "token" in action.dest:  # never a secret
            return action.help
        return super()._get_help_string(action)


def _fail(message: str) -> int:
    print(f"fluxnotify: {message}", file=sys.stderr)
    return 2


def _load(paths: list[str]):
    from fluxnotify.config.files import load_files

    return load_files(paths, note=lambda text: print(f"fluxnotify: note: {text}", file=sys.stderr))


def _render(args) -> int:
    from fluxnotify.ops.render import render

    configure_logging("WARNING")
    try:
        objects = _load(args.file)
    except ManifestError as err:
        return _fail(str(err))
    try:
        event = parse_event(Path(args.event).read_bytes())
    except OSError as err:
        return _fail(f"{args.event}: cannot read file: {err.strerror or err}")
    except EventError as err:
        return _fail(f"{args.event}: {err}")
    try:
        validate_event(event)  # what the receiver would refuse, render refuses too
    except EventError as err:
        return _fail(f"{args.event}: the receiver refuses this event with 400: {err}")
    no_cross = args.no_cross_namespace_refs or Settings.from_env().no_cross_namespace_refs
    results = render(objects, event, args.cluster, no_cross)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 1 if any(r["error"] for r in results) else 0


def _validate(args) -> int:
    from fluxnotify.ops.validate import conditions

    configure_logging("WARNING")
    try:
        found = conditions(_load(args.file), Settings.from_env().no_cross_namespace_refs) if args.file else _stored_conditions(args)
    except ManifestError as err:
        return _fail(str(err))
    except RuntimeError as err:  # admin.AwsError: AWS unreachable or refused
        return _fail(f"AWS error: {err}")
    if args.output == "json":
        print(json.dumps([c.as_dict() for c in found], indent=2))
    else:
        for c in found:
            print(f"{c.kind:<8} {c.key:<40} {c.type}={c.status:<5} {c.reason}: {c.message}")
        if not found:
            print("no Provider or Alert found", file=sys.stderr)
    return 0 if all(c.ready for c in found if c.type == "Ready") else 1


def _prefix_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-prefix", metavar="P", help="SSM path prefix (env CONFIG_PREFIX, /fluxnotify)")
    parser.add_argument("--secrets-prefix", metavar="S",
                        help="Secrets Manager name prefix (env SECRETS_PREFIX, fluxnotify)")


def _stored_conditions(args):
    from fluxnotify.ops.status import stored_delivering
    from fluxnotify.ops.stored import stored_conditions

    found = stored_conditions(config_prefix_=args.config_prefix, secrets_prefix_=args.secrets_prefix)
    return stored_delivering(found, args.state_table)


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    from fluxnotify.ops.status import add_arguments

    add_arguments(parser)


def _status(args) -> int:
    from fluxnotify.ops.status import run

    configure_logging("WARNING")
    return run(args)


def _import(args) -> int:
    from fluxnotify.ops.importer import import_files

    configure_logging("WARNING")
    return import_files(args.file, prune=args.prune, dry_run=args.dry_run, force=args.force,
                        config_prefix_=args.config_prefix, secrets_prefix_=args.secrets_prefix)


def _export(args) -> int:
    from fluxnotify.ops.exporter import export_command

    configure_logging("WARNING")
    return export_command(output=args.output, config_prefix_=args.config_prefix,
                          secrets_prefix_=args.secrets_prefix)


def _replay(args) -> int:
    from fluxnotify.ops import replay

    if args.db:
        if not Path(args.db).exists():
            return _fail(f"{args.db}: no such local stack database")
        report = replay.replay_local(args.db, dry_run=args.dry_run)
    else:
        if not args.queue_url or not args.dlq_url:
            return _fail("replay needs --queue-url and --dlq-url (or QUEUE_URL/DLQ_URL), or --db for the local stack")
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            report = replay.replay_sqs(boto3.client("sqs"), args.dlq_url, args.queue_url,
                                       dry_run=args.dry_run, limit=args.limit)
        except (BotoCoreError, ClientError) as err:
            return _fail(f"replay failed: {err}")
    if args.dry_run:
        for item in report.listed:
            print(f"{item['id']}  {item['object']}  → {item['provider']}  [{item['reason']}] {item['error']}")
    print(report.summary(args.dry_run))
    return 0


def _serve(args) -> int:
    import sqlite3

    from fluxnotify.ops.local import LocalStack, PrintingSink
    from fluxnotify.ops.signals import StopSignals

    stop = StopSignals()
    configure_logging("INFO")
    try:
        settings = Settings.from_env()
    except ValueError as err:
        return _fail(str(err))
    if args.no_cross_namespace_refs:  # the dispatcher's child process gets the settings
        settings = settings.but(no_cross_namespace_refs=True)
    try:
        tokens = cluster_admin.serve_tokens(args.token, args.cluster)
    except cluster_admin.ClusterError as err:
        return _fail(str(err))
    if args.sink:
        host, _, port = args.sink.rpartition(":")
        try:
            PrintingSink(host or "127.0.0.1", int(port)).start()
        except (OSError, ValueError) as err:
            return _fail(f"cannot listen on {args.sink} (--sink): {getattr(err, 'strerror', None) or err}")
    try:
        stack = LocalStack(args.config, host=args.host, port=args.port, database=args.db,
                           workers=args.workers, token=tokens, separate_process=True,
                           read_timeout=args.read_timeout, max_connections=args.max_connections,
                           status_addr=_status_addr(args), settings=settings)
    except (ManifestError, ValueError) as err:
        return _fail(str(err))
    except sqlite3.Error as err:
        return _fail(f"{args.db}: cannot use the database: {err}")
    except OSError as err:
        return _fail(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}")
    try:
        stack.start()
    except RuntimeError as err:
        return _fail(str(err))
    print(f"fluxnotify: receiving Flux events on {stack.url}/ (queue: {args.db}); Ctrl-C to stop",
          file=sys.stderr, flush=True)
    if stack.status_page is not None:
        print(f"fluxnotify: status page on {stack.status_page.url}/", file=sys.stderr, flush=True)
    demo_token = next((values[-1] for values in (tokens or {}).values()), None)
    for path in args.post:
        _post_example(stack.url, path, demo_token)
    signum = stop.wait()
    print(f"fluxnotify: stopping ({signum.name})", file=sys.stderr, flush=True)
    stack.stop()
    return 0


def _status_addr(args) -> str:
    """--status-addr, else the default address when it is free (a busy default is no error)."""
    if args.status_addr is not None:
        return args.status_addr
    import socket

    from fluxnotify.ops.statuspage import DEFAULT_ADDR, parse_addr

    with socket.socket() as probe:
        try:
            probe.bind(parse_addr(DEFAULT_ADDR))
        except OSError:
            print(f"fluxnotify: {DEFAULT_ADDR} is in use: no status page (set --status-addr)", file=sys.stderr)
            return ""
    return DEFAULT_ADDR


def _post_example(url: str, path: str, token: str | None) -> None:
    body = Path(path).read_bytes()
    target = f"{url}/{token}" if token else f"{url}/"
    request = urllib.request.Request(target, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            print(f"fluxnotify: posted {path}: HTTP {answer.status}", file=sys.stderr, flush=True)
    except urllib.error.HTTPError as err:
        print(f"fluxnotify: posted {path}: HTTP {err.code} {err.read().decode()}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
