"""`fluxnotify cluster add|rotate|remove|list`: the clusters of the webhook-token secret.

The secret (template resource WebhookTokenSecret) maps each cluster to its tokens
(ingress/clusters.py). `add` gives a cluster a random token, `rotate` adds a new one and
keeps the newest previous one (two tokens: old and new URL both work until `rotate
--finish` drops the old), `remove` deletes a cluster, `list` prints every cluster's full
webhook URL. The secret id and the base URL come from the stack (`--stack NAME`: outputs
WebhookTokenSecretArn and WebhookBaseUrl) or are given (`--secret-id`, `--base-url`).
The URLs carry the tokens: this command prints them on purpose, to stdout only.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

from fluxnotify.ingress.clusters import (
    CLUSTER_NAME,
    TokenMap,
    TokenSecretError,
    dump_token_secret,
    parse_token_secret,
)
from fluxnotify.queue.messages import DEFAULT_CLUSTER

SECRET_OUTPUT, BASE_URL_OUTPUT = "WebhookTokenSecretArn", "WebhookBaseUrl"


class ClusterError(RuntimeError):
    """A problem to report in one line (never with a token in it)."""


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits, URL-safe: it travels as a path segment


def check_name(name: str) -> str:
    if not CLUSTER_NAME.match(name):
        raise ClusterError(f"cluster name {name!r} is not a DNS label (a-z, 0-9, '-', at most 63)")
    return name


def serve_tokens(token: str | None, clusters: list[str]) -> TokenMap | None:
    """`serve --token T --cluster NAME=TOKEN …` as a token map (None: no auth)."""
    tokens: TokenMap = {DEFAULT_CLUSTER: [token]} if token else {}
    for pair in clusters:
        name, sep, value = pair.partition("=")
        if not sep or not value.strip():
            raise ClusterError(f"--cluster {name or pair!r}: expected NAME=TOKEN")
        tokens.setdefault(check_name(name.strip()), []).append(value.strip())
    return tokens or None


def add(tokens: TokenMap, name: str) -> TokenMap:
    if check_name(name) in tokens:
        raise ClusterError(f"cluster {name!r} exists already (rotate its token instead)")
    return {**tokens, name: [new_token()]}


def rotate(tokens: TokenMap, name: str, finish: bool = False) -> TokenMap:
    """A new token beside the newest old one; ``finish`` keeps only the newest."""
    if name not in tokens:
        raise ClusterError(f"no cluster {name!r}")
    kept = tokens[name][-1:]
    return {**tokens, name: kept if finish else [*kept, new_token()]}


def remove(tokens: TokenMap, name: str) -> TokenMap:
    if name not in tokens:
        raise ClusterError(f"no cluster {name!r}")
    if len(tokens) == 1:
        raise ClusterError(f"cluster {name!r} is the last one: without a token every request gets 401")
    return {key: value for key, value in tokens.items() if key != name}


def urls(tokens: TokenMap, base_url: str) -> list[str]:
    """One line per cluster: its name and the URL of its newest token."""
    lines = []
    for name in sorted(tokens):
        newest = tokens[name][-1]
        note = "  (previous token still accepted: rotate --finish drops it)" if len(tokens[name]) > 1 else ""
        lines.append(f"{name}\t{base_url.rstrip('/')}/{newest}{note}")
    return lines


class TokenSecret:
    """The token secret in Secrets Manager."""

    def __init__(self, secret_id: str, client: Any):
        self.secret_id, self.client = secret_id, client

    def read(self) -> TokenMap:
        text = self.client.get_secret_value(SecretId=self.secret_id)["SecretString"]
        return parse_token_secret(text)

    def write(self, tokens: TokenMap) -> None:
        self.client.put_secret_value(SecretId=self.secret_id, SecretString=dump_token_secret(tokens))


def stack_settings(cloudformation: Any, stack: str) -> tuple[str, str | None]:
    """(secret id, base URL) from the stack's outputs."""
    (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    if not outputs.get(SECRET_OUTPUT):
        raise ClusterError(f"stack {stack} has no output {SECRET_OUTPUT}: pass --secret-id")
    return outputs[SECRET_OUTPUT], outputs.get(BASE_URL_OUTPUT)


def add_parser(commands: Any) -> None:
    cluster = commands.add_parser("cluster", help="manage the clusters and webhook tokens of a deployed stack")
    actions = cluster.add_subparsers(dest="action", required=True, metavar="ACTION",
                                     help="add, rotate, remove or list (each has --help)")
    for action, text in (("add", "give a new cluster its own token"),
                         ("rotate", "add a new token, keeping the previous one (overlap)"),
                         ("remove", "delete a cluster and its tokens"),
                         ("list", "print every cluster's full webhook URL")):
        sub = actions.add_parser(action, help=text)
        if action != "list":
            sub.add_argument("name", help="cluster name (a DNS label)")
        if action == "rotate":
            sub.add_argument("--finish", action="store_true", help="drop the previous token (after every sender moved)")
        where = sub.add_mutually_exclusive_group(required=True)
        where.add_argument("--stack", metavar="NAME", help="the deployed stack (reads its outputs)")
        where.add_argument("--secret-id", metavar="ARN", help="the webhook-token secret")
        sub.add_argument("--base-url", metavar="URL", help="webhook base URL (default: the stack's WebhookBaseUrl)")
        sub.set_defaults(run=run)


def run(args: argparse.Namespace, session: Any = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _run(args, session)
    except (ClusterError, TokenSecretError) as err:
        print(f"fluxnotify: {err}", file=sys.stderr)
    except (BotoCoreError, ClientError) as err:
        print(f"fluxnotify: AWS error: {err}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace, session: Any) -> int:
    if session is None:
        import boto3

        session = boto3.session.Session()
    secret_id, base_url = args.secret_id, args.base_url
    if args.stack:
        secret_id, stack_url = stack_settings(session.client("cloudformation"), args.stack)
        base_url = base_url or stack_url
    secret = TokenSecret(secret_id, session.client("secretsmanager"))
    tokens = secret.read()
    changed = {"add": lambda: add(tokens, args.name),
               "rotate": lambda: rotate(tokens, args.name, args.finish),
               "remove": lambda: remove(tokens, args.name)}.get(args.action)
    if changed is not None:
        tokens = changed()
        secret.write(tokens)
        print(f"fluxnotify: cluster {args.name} {args.action}: done (receivers pick it up within 5 minutes)",
              file=sys.stderr)
    if not base_url:
        print("fluxnotify: no base URL (give --base-url or --stack): clusters only", file=sys.stderr)
        print("\n".join(sorted(tokens)))
        return 0
    print("\n".join(urls(tokens, base_url)))
    return 0
