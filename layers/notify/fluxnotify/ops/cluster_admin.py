"""`fluxnotify cluster add|rotate|remove|list`: the clusters of the webhook-token secret.

The secret (template resource WebhookTokenSecret) maps each cluster to its tokens
(ingress/clusters.py). `add` gives a cluster a random token, `rotate` adds a new one and
keeps the newest previous one (two tokens: old and new URL both work until `rotate
--finish` drops the old), `remove` deletes a cluster, `list` prints every cluster's full
webhook URL. The secret id and the base URL come from the stack (`--stack NAME`: outputs
WebhookTokenSecretArn and WebhookBaseUrl) or are given (`--secret-id`, `--base-url`).
The URLs carry the tokens: this command prints them on purpose, to stdout only.

Concurrent runs lose nothing: a change is a compare-and-set on the secret's AWSCURRENT
version (TokenSecret.change). Secrets Manager has no conditional PutSecretValue, but
UpdateSecretVersionStage moving AWSCURRENT with ``RemoveFromVersionId`` fails unless the
label is still on that version: the new version is written under a private label, then
AWSCURRENT is moved to it from the version the change was computed on. A writer that lost
the race re-reads and applies its change again (bounded), or stops with an error; a change
that no longer applies (``add`` of a cluster another run just added) is an error too.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import time
import uuid
from collections.abc import Callable
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
CURRENT = "AWSCURRENT"
PENDING = "fluxnotify-pending-"  # + the new version's id: the private label of a write in progress
ATTEMPTS = 5


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
    """The token secret in Secrets Manager, changed by compare-and-set on AWSCURRENT."""

    def __init__(self, secret_id: str, client: Any, attempts: int = ATTEMPTS):
        self.secret_id, self.client, self.attempts = secret_id, client, attempts

    def read(self) -> tuple[TokenMap, str]:
        """The current tokens and the id of the version they come from."""
        answer = self.client.get_secret_value(SecretId=self.secret_id, VersionStage=CURRENT)
        return parse_token_secret(answer["SecretString"]), answer["VersionId"]

    def change(self, edit: Callable[[TokenMap], TokenMap]) -> TokenMap:
        """Apply ``edit`` to the current tokens and write the result, unless another writer
        changed the secret meanwhile: then again on its version, at most ``attempts`` times."""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(random.uniform(0.05, 0.2) * attempt)  # apart from the other writer
            tokens, version = self.read()
            changed = edit(tokens)
            if self._swap(version, dump_token_secret(changed)):
                return changed
        raise ClusterError(f"the webhook token secret changed under this command {self.attempts} times "
                           "(another `fluxnotify cluster` running?): nothing changed, run it again")

    def _swap(self, based_on: str, text: str) -> bool:
        """Write ``text`` as a new version; make it AWSCURRENT if AWSCURRENT is still ``based_on``."""
        from botocore.exceptions import ClientError

        version = str(uuid.uuid4())
        label = PENDING + version
        self.client.put_secret_value(SecretId=self.secret_id, SecretString=text, ClientRequestToken=version,
                                     VersionStages=[label])  # not AWSCURRENT: nobody reads it yet
        try:
            self.client.update_secret_version_stage(SecretId=self.secret_id, VersionStage=CURRENT,
                                                    MoveToVersionId=version, RemoveFromVersionId=based_on)
            return True
        except ClientError:
            current = self.read()[1]
            if current == based_on:  # not a lost race: the move failed for another reason
                raise
            return current == version  # a retried move whose first try had worked
        finally:
            self._unlabel(label, version)

    def _unlabel(self, label: str, version: str) -> None:
        """Drop the private label (a lost version without labels is deprecated and deleted by
        Secrets Manager); a failure only leaves a label on an old version."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.update_secret_version_stage(SecretId=self.secret_id, VersionStage=label,
                                                    RemoveFromVersionId=version)
        except (BotoCoreError, ClientError):
            pass


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
    edit = {"add": lambda tokens: add(tokens, args.name),
            "rotate": lambda tokens: rotate(tokens, args.name, args.finish),
            "remove": lambda tokens: remove(tokens, args.name)}.get(args.action)
    if edit is None:
        tokens = secret.read()[0]
    else:
        tokens = secret.change(edit)
        print(f"fluxnotify: cluster {args.name} {args.action}: done (receivers pick it up within 5 minutes)",
              file=sys.stderr)
    if not base_url:
        print("fluxnotify: no base URL (give --base-url or --stack): clusters only", file=sys.stderr)
        print("\n".join(sorted(tokens)))
        return 0
    print("\n".join(urls(tokens, base_url)))
    return 0
