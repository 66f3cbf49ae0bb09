"""`fluxnotify` command line: serve, render, validate (see DESIGN.md "Command line")."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from fluxnotify._version import VERSION as __version__
from fluxnotify.model.event import EventError, parse_event, validate_event
from fluxnotify.model.manifests import ManifestError
from fluxnotify.ops import cluster_admin, silence_admin, testargs
from fluxnotify.ops import serve as serve_command
from fluxnotify.ops.logs import configure_logging
from fluxnotify.settings import Settings
from fluxnotify.state.onchange import ReadOnlySqliteOnChange


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fluxnotify", description="Flux notifications, serverless.",
                                     formatter_class=_HelpFormatter, epilog=EXAMPLES[""])
    parser.add_argument("--version", action="version", version=f"fluxnotify {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve_command.add_parser(commands, FILES_HELP)

    render = commands.add_parser("render", help="show what each Provider would send for an event")
    render.add_argument("-f", "--file", action="extend", nargs="+", required=True, metavar=FILES,
                        help=FILES_HELP)
    render.add_argument("--event", required=True, metavar="EVENT.json",
                        help="the event as a Flux controller posts it (prefixed metadata keys)")
    render.add_argument("--cluster", default="", metavar="NAME",
                        help="plan as if the event came from this cluster (its webhook token)")
    render.add_argument("--no-cross-namespace-refs", action="store_true",
                        help="plan as serve --no-cross-namespace-refs would (env NO_CROSS_NAMESPACE_REFS)")
    render.add_argument("-o", "--output", choices=("json", "table"), default="json",
                        help="json: every request in full; table: one line per request or skip/error")
    render.add_argument("--show-secrets", action="store_true",
                        help="print tokens, passwords and webhook URLs as they go out (masked as ***** otherwise)")
    render.add_argument("--db", metavar="FILE", help="apply the state of this serve database, read-only: "
                        "active silences, on-change state, open incidents")
    render.set_defaults(run=_render)

    testargs.add_parser(commands, FILES_HELP, FILES).set_defaults(run=_test)

    validate = commands.add_parser("validate", help="print the Ready condition of each Provider and Alert")
    source = validate.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--file", action="extend", nargs="+", metavar=FILES, help=FILES_HELP)
    source.add_argument("--from-aws", action="store_true",
                        help="validate what is stored in SSM / Secrets Manager instead of files")
    validate.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    validate.add_argument("--state-table", default=os.environ.get("STATE_TABLE"),
                          help="with --from-aws: add the Delivering condition from this table (env STATE_TABLE)")
    validate.add_argument("--stack", metavar="NAME",
                          help="with --from-aws: warn about sns/eventbridge targets this stack does not allow")
    _prefix_arguments(validate)
    validate.set_defaults(run=_validate)

    imports = commands.add_parser("import", help="write manifests to SSM / Secrets Manager")
    imports.add_argument("-f", "--file", action="extend", nargs="+", required=True, metavar=FILES,
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
    silence_admin.add_parser(commands)
    for listed in commands._choices_actions:  # every subcommand: its purpose and its defaults
        command = commands.choices[listed.dest]
        command.formatter_class = _HelpFormatter
        command.description = command.description or listed.help
        command.epilog = command.epilog or EXAMPLES.get(listed.dest)
    return parser


FILES_HELP = ("Flux Provider/Alert/Secret YAML: files, directories (their *.yaml/*.yml) or - (standard "
              "input, e.g. kustomize build DIR | fluxnotify validate -f -); several after one -f, and -f repeatable")
FILES = "FILE|DIR|-"

EXAMPLES = {
    "": "examples:\n  fluxnotify validate -f manifests/\n  fluxnotify serve -f examples/local.yaml\n"
        "  fluxnotify <command> --help    # each command's options and an example",
    "render": "example:\n  fluxnotify render -f examples/local.yaml --event events/bodies/kustomization-reconciled.json",
    "validate": "example:\n  fluxnotify validate -f manifests/ -o json",
    "test": "examples:\n  fluxnotify test -f manifests/ --provider flux-system/slack\n"
            "  sops -d secret.yaml | fluxnotify test -f providers.yaml - --provider flux-system/teams --event ev.json",
    "import": "example:\n  fluxnotify import -f manifests/ --prune --dry-run",
    "export": "example:\n  fluxnotify export -o backup.yaml",
    "replay": "examples:\n  fluxnotify replay --db fluxnotify.db --dry-run\n"
              "  fluxnotify replay --queue-url URL --dlq-url DLQ_URL --limit 10",
    "status": "examples:\n  fluxnotify status --db fluxnotify.db\n  fluxnotify status --watch\n"
              "  fluxnotify status --stack fluxnotify --watch",
}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: …)' once, where there is a default worth showing; examples as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], "", argparse.SUPPRESS) or "token" in action.dest:  # never a secret
            return action.help
        if "default" in (action.help or ""):  # the help says it in its own words
            return action.help
        return super()._get_help_string(action)


def _fail(message: str) -> int:
    print(f"fluxnotify: {message}", file=sys.stderr)
    return 2


def _load(paths: list[str]):
    from fluxnotify.config.files import load_files

    return load_files(paths, note=_note)


def _note(text: str) -> None:
    print(f"fluxnotify: note: {text}", file=sys.stderr)


def _render(args) -> int:
    from fluxnotify.ops.render import render
    from fluxnotify.ops.render import table as render_table

    configure_logging("WARNING")
    try:
        objects = _load(args.file)
    except ManifestError as err:
        return _fail(str(err))
    event = _read_event(args.event)
    if isinstance(event, int):
        return event
    no_cross = args.no_cross_namespace_refs or Settings.from_env().no_cross_namespace_refs
    try:
        silences = silence_admin.render_silences(args.db) if args.db else None
    except silence_admin.SilenceError as err:
        return _fail(str(err))
    onchange = ReadOnlySqliteOnChange(args.db) if args.db else None  # read only, like the silences
    incidents = _incidents(args.db) if args.db else None
    results = render(objects, event, args.cluster, no_cross, silences, show_secrets=args.show_secrets,
                     onchange=onchange, incidents=incidents)
    if args.output == "table":
        print(render_table(results), end="")
    else:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return 1 if any(r["error"] for r in results) else 0


def _read_event(path: str):
    """The event of an --event file, or the exit status after a one-line message."""
    try:
        event = parse_event(Path(path).read_bytes())
    except OSError as err:
        return _fail(f"{path}: cannot read file: {err.strerror or err}")
    except EventError as err:
        return _fail(f"{path}: {err}")
    try:
        validate_event(event)  # what the receiver would refuse, render and test refuse too
    except EventError as err:
        return _fail(f"{path}: the receiver refuses this event with 400: {err}")
    return event


def _test(args) -> int:
    from fluxnotify.ops import testsend

    configure_logging("WARNING")
    try:
        objects = _load(args.file)
    except ManifestError as err:
        return _fail(str(err))
    event = _read_event(args.event) if args.event else parse_event(json.dumps(testsend.SAMPLE_EVENT).encode())
    if isinstance(event, int):
        return event
    trial = testsend.send_test(objects, args.provider.strip(), event, args.cluster, args.show_secrets)
    print("\n".join(trial.lines))
    return trial.code


def _incidents(path: str):
    """`render --db`: the open incidents of a serve database (state/incidents.py), read-only."""
    from fluxnotify.state.incidents import ReadOnlyIncidents

    return ReadOnlyIncidents(path)


def _validate(args) -> int:
    from fluxnotify.ops.validate import Report, validate_files

    configure_logging("WARNING")
    try:
        if args.file:
            found = validate_files(args.file, note=_note,
                                   no_cross_namespace_refs=Settings.from_env().no_cross_namespace_refs)
        else:
            found = Report(_stored_conditions(args))
        for line in [] if args.file else _target_warnings(args.providers, args.stack):
            print(f"fluxnotify: warning: {line}", file=sys.stderr)
    except RuntimeError as err:  # admin.AwsError, StackError: AWS unreachable or refused
        return _fail(f"AWS error: {err}")
    for problem in found.input_errors:
        print(f"fluxnotify: {problem}", file=sys.stderr)
    if args.output == "json":
        print(json.dumps(found.as_json(), indent=2))
        print(found.summary(), file=sys.stderr)
    else:
        print("\n".join([*found.lines(), found.summary()]))
    return found.exit_code()


def _prefix_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-prefix", metavar="P", help="SSM path prefix (env CONFIG_PREFIX, /fluxnotify)")
    parser.add_argument("--secrets-prefix", metavar="S",
                        help="Secrets Manager name prefix (env SECRETS_PREFIX, fluxnotify)")


def _target_warnings(providers, stack: str | None) -> list[str]:
    from fluxnotify.ops.awstargets import warnings

    return warnings(providers, None, stack)


def _stored_conditions(args):
    from fluxnotify.ops.status import stored_delivering
    from fluxnotify.ops.stored import stored_conditions

    args.providers = []
    found = stored_conditions(config_prefix_=args.config_prefix, secrets_prefix_=args.secrets_prefix,
                              providers_out=args.providers)
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


if __name__ == "__main__":
    sys.exit(main())
