"""`fluxnotify cluster add|rotate|remove|list` against moto (Secrets Manager, CloudFormation)."""

from __future__ import annotations

import argparse
import json
import threading

import boto3
import pytest
from moto import mock_aws

from fluxnotify.ingress.clusters import parse_token_secret
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.ingress.tokens import SecretTokens
from fluxnotify.ops import cluster_admin
from fluxnotify.ops.cli import main
from helpers import MemoryQueue

BASE = "https://abc123.execute-api.eu-west-1.amazonaws.com"
EVENT = json.dumps({"involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
                    "severity": "info", "message": "applied"}).encode()


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        arn = secrets.create_secret(Name="fluxnotify-webhook-token", SecretString="first-token")["ARN"]
        template = {
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {"WebhookTokenSecretArn": {"Value": arn}, "WebhookBaseUrl": {"Value": BASE}},
        }
        boto3.client("cloudformation").create_stack(StackName="fluxnotify", TemplateBody=json.dumps(template))
        yield secrets, arn


def stored(secrets, arn) -> dict:
    # AWSCURRENT named: moto's default read does not follow a moved label (AWS's does).
    return parse_token_secret(secrets.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])


def lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_list_prints_the_full_url_from_the_stack(aws, capsys):
    assert main(["cluster", "list", "--stack", "fluxnotify"]) == 0
    assert lines(capsys) == [f"default\t{BASE}/first-token"]


def test_add_rotate_finish_remove(aws, capsys):
    secrets, arn = aws
    assert main(["cluster", "add", "prod-eu", "--stack", "fluxnotify"]) == 0
    (eu_token,) = stored(secrets, arn)["prod-eu"]
    assert f"prod-eu\t{BASE}/{eu_token}" in lines(capsys)
    assert len(eu_token) >= 40 and stored(secrets, arn)["default"] == ["first-token"]

    assert main(["cluster", "rotate", "prod-eu", "--secret-id", arn, "--base-url", BASE + "/"]) == 0
    old, new = stored(secrets, arn)["prod-eu"]
    assert old == eu_token and new != eu_token
    out = lines(capsys)
    assert any(line.startswith(f"prod-eu\t{BASE}/{new}") and "previous token" in line for line in out)

    main(["cluster", "rotate", "prod-eu", "--stack", "fluxnotify"])  # a second rotation drops the oldest
    tokens = stored(secrets, arn)["prod-eu"]
    assert tokens[0] == new and eu_token not in tokens

    assert main(["cluster", "rotate", "prod-eu", "--finish", "--stack", "fluxnotify"]) == 0
    assert stored(secrets, arn)["prod-eu"] == tokens[-1:]

    assert main(["cluster", "remove", "prod-eu", "--stack", "fluxnotify"]) == 0
    assert stored(secrets, arn) == {"default": ["first-token"]}


def test_rotation_overlap_both_tokens_are_accepted_by_the_receiver(aws):
    secrets, arn = aws
    main(["cluster", "add", "staging", "--secret-id", arn])
    main(["cluster", "rotate", "staging", "--secret-id", arn])
    queue = MemoryQueue()
    receiver = Receiver(queue, token=SecretTokens(arn, secrets))
    for token in stored(secrets, arn)["staging"]:
        assert receiver.handle("POST", f"/{token}", {}, EVENT).status == 202
    assert [m["cluster"] for m in queue.bodies()] == ["staging", "staging"]


@pytest.mark.parametrize("argv, problem", [
    (["cluster", "add", "default"], "exists already"),
    (["cluster", "add", "Prod_EU"], "not a DNS label"),
    (["cluster", "rotate", "nope"], "no cluster 'nope'"),
    (["cluster", "remove", "nope"], "no cluster 'nope'"),
    (["cluster", "remove", "default"], "the last one"),
])
def test_mistakes_are_one_line_errors_without_tokens(aws, capsys, argv, problem):
    secrets, arn = aws
    assert main([*argv, "--secret-id", arn]) == 2
    err = capsys.readouterr().err
    assert problem in err and "first-token" not in err
    assert stored(secrets, arn) == {"default": ["first-token"]}


def test_unknown_stack_is_an_aws_error(aws, capsys):
    assert main(["cluster", "list", "--stack", "missing"]) == 2
    assert "AWS error" in capsys.readouterr().err


def test_serve_tokens_from_token_and_cluster_options():
    assert cluster_admin.serve_tokens(None, []) is None
    assert cluster_admin.serve_tokens("t", ["eu=a", "eu=b", "us=c"]) == {"default": ["t"], "eu": ["a", "b"], "us": ["c"]}
    with pytest.raises(cluster_admin.ClusterError, match="NAME=TOKEN"):
        cluster_admin.serve_tokens(None, ["eu"])
    with pytest.raises(cluster_admin.ClusterError, match="DNS label"):
        cluster_admin.serve_tokens(None, ["EU=x"])



def test_a_stack_without_the_secret_output_asks_for_secret_id(aws, capsys):
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, "Outputs": {"WebhookBaseUrl": {"Value": BASE}}}
    boto3.client("cloudformation").create_stack(StackName="other", TemplateBody=json.dumps(template))
    assert main(["cluster", "list", "--stack", "other"]) == 2
    assert "--secret-id" in capsys.readouterr().err


# --- concurrent changes: compare-and-set on AWSCURRENT -----------------------------------------


class AtomicCalls:
    """A Secrets Manager client whose calls are atomic, like AWS's API (moto's backend is not
    across threads); ``before_write`` runs after this writer's read, before its write."""

    lock = threading.Lock()

    def __init__(self, client, before_write=None):
        self.client, self.before_write = client, before_write

    def __getattr__(self, name):
        call = getattr(self.client, name)

        def atomic(**kwargs):
            if name == "put_secret_value" and self.before_write:
                self.before_write()
            with self.lock:
                return call(**kwargs)
        return atomic


class Session:
    def __init__(self, client):
        self._client = client

    def client(self, name):
        assert name == "secretsmanager"
        return self._client


def cluster_args(action: str, name: str, arn: str) -> argparse.Namespace:
    return argparse.Namespace(action=action, name=name, secret_id=arn, stack=None, base_url=BASE, finish=False)


def concurrently(arn, secrets, *commands) -> list[int]:
    """Run each (action, name) in its own thread; all read the secret before any writes."""
    barrier = threading.Barrier(len(commands), timeout=10)
    first = threading.local()

    def after_first_read():
        if not getattr(first, "done", False):
            first.done = True
            barrier.wait()  # every writer has read the same version: a guaranteed race

    codes = [None] * len(commands)

    def one(i, action, name):
        session = Session(AtomicCalls(secrets, before_write=after_first_read))
        codes[i] = cluster_admin.run(cluster_args(action, name, arn), session)

    threads = [threading.Thread(target=one, args=(i, *c)) for i, c in enumerate(commands)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return codes


def pending_labels(secrets, arn) -> list[str]:
    versions = secrets.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
    return [s for v in versions for s in v.get("VersionStages", []) if s.startswith(cluster_admin.PENDING)]


def test_two_concurrent_adds_both_survive(aws, capsys):
    secrets, arn = aws
    assert concurrently(arn, secrets, ("add", "prod"), ("add", "staging")) == [0, 0]
    tokens = stored(secrets, arn)
    assert sorted(tokens) == ["default", "prod", "staging"] and tokens["default"] == ["first-token"]
    queue = MemoryQueue()
    receiver = Receiver(queue, token=SecretTokens(arn, secrets))
    for name in ("prod", "staging", "default"):  # every cluster's token is accepted
        assert receiver.handle("POST", f"/{tokens[name][0]}", {}, EVENT).status == 202
    assert pending_labels(secrets, arn) == []


def test_concurrent_add_rotate_remove_keep_every_change(aws):
    secrets, arn = aws
    main(["cluster", "add", "old", "--secret-id", arn])
    main(["cluster", "add", "eu", "--secret-id", arn])
    (eu_token,) = stored(secrets, arn)["eu"]
    assert concurrently(arn, secrets, ("add", "us"), ("rotate", "eu"), ("remove", "old")) == [0, 0, 0]
    tokens = stored(secrets, arn)
    assert sorted(tokens) == ["default", "eu", "us"]
    assert len(tokens["eu"]) == 2 and tokens["eu"][0] == eu_token


def test_the_same_add_twice_at_once_one_wins_one_says_why(aws, capsys):
    secrets, arn = aws
    codes = concurrently(arn, secrets, ("add", "prod"), ("add", "prod"))
    assert sorted(codes) == [0, 2]
    captured = capsys.readouterr()
    assert "cluster 'prod' exists already" in captured.err
    (token,) = stored(secrets, arn)["prod"]
    assert f"prod\t{BASE}/{token}" in captured.out.splitlines()  # the winner printed the token that counts


def test_a_secret_that_keeps_changing_is_an_error_and_nothing_is_lost(aws, capsys):
    secrets, arn = aws
    others = []

    def another_writer_first():
        others.append(f"other-{len(others)}")
        cluster_admin.TokenSecret(arn, AtomicCalls(secrets)).change(lambda t: cluster_admin.add(t, others[-1]))

    slow = Session(AtomicCalls(secrets, before_write=another_writer_first))
    assert cluster_admin.run(cluster_args("add", "prod", arn), slow) == 2
    err = capsys.readouterr().err
    assert "changed under this command 5 times" in err and "run it again" in err
    tokens = stored(secrets, arn)
    assert sorted(tokens) == sorted(["default", *others]) and len(others) == 5  # each other write kept
    assert pending_labels(secrets, arn) == []


def test_a_secret_kept_from_the_previous_release_works_with_cluster_commands(monkeypatch, capsys):
    """An upgraded stack keeps the previous release's plain token (template WebhookToken):
    it stays cluster default's token through `cluster add` and is still accepted."""
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    legacy = "5a0c2e10-7f3b-11ef-9d1e-0a1b2c3d4e5f"  # the previous default: the stack id's last part
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        arn = secrets.create_secret(Name="WebhookTokenSecret-x", SecretString=legacy)["ARN"]
        assert main(["cluster", "list", "--secret-id", arn, "--base-url", BASE]) == 0
        assert lines(capsys) == [f"default\t{BASE}/{legacy}"]
        assert main(["cluster", "add", "prod", "--secret-id", arn]) == 0
        tokens = stored(secrets, arn)
        assert tokens["default"] == [legacy]
        queue = MemoryQueue()
        receiver = Receiver(queue, token=SecretTokens(arn, secrets))
        assert receiver.handle("POST", f"/{legacy}", {}, EVENT).status == 202
        assert receiver.handle("POST", f"/{tokens['prod'][0]}", {}, EVENT).status == 202
        assert [m["cluster"] for m in queue.bodies()] == ["default", "prod"]
