"""Where Kubernetes Secrets live on AWS: Secrets Manager (default) or SSM SecureString.

SECRET_STORE chooses (the template's ``SecretStore`` parameter):

* ``secretsmanager``: one secret ``<SECRETS_PREFIX>/<namespace>/<name>``, a JSON object
  of its keys ($0.40 per secret and month, $0.05 per 10,000 reads);
* ``ssm``: one SecureString parameter ``/<SECRETS_PREFIX>-secrets/<namespace>/<name>``
  holding the same JSON (standard parameters: no charge for storage or standard-throughput
  reads; decrypting with the AWS-managed ``aws/ssm`` key costs KMS requests only). The
  ``-secrets`` path keeps them out of the config path even when both prefixes are equal.

``SsmSecretsClient`` offers the few Secrets Manager calls ``fluxnotify import`` makes, on
top of SSM, so the importer writes where the dispatcher reads whichever store is chosen.
"""

from __future__ import annotations

from typing import Any

from fluxnotify.settings import SSM  # Settings.secret_store

MAX_SECURE_STRING = 4096  # standard tier; larger values need the advanced tier


def ssm_secret_path(secrets_prefix: str) -> str:
    return "/" + secrets_prefix.strip("/") + "-secrets"


def read_secret(store: str, client: Any, name: str) -> str | None:
    """The secret's text, None when it does not exist (``name``: the Secrets Manager name)."""
    if store == SSM:
        try:
            return client.get_parameter(Name=_ssm_name(name), WithDecryption=True)["Parameter"]["Value"]
        except client.exceptions.ParameterNotFound:
            return None
    try:
        return client.get_secret_value(SecretId=name).get("SecretString")
    except client.exceptions.ResourceNotFoundException:
        return None


def _ssm_name(name: str) -> str:
    """``<prefix>/<namespace>/<name>`` (the prefix may hold slashes) → the parameter's name."""
    head, _, tail = name.rpartition("/")
    prefix, _, namespace = head.rpartition("/")
    return f"{ssm_secret_path(prefix)}/{namespace}/{tail}"


class SsmSecretsClient:
    """Secrets Manager's get/create/put/delete/restore/list for `import`/`export`, on SSM."""

    def __init__(self, ssm: Any, secrets_prefix: str):
        self.ssm = ssm
        self.prefix = secrets_prefix.rstrip("/")

    def _error(self, code: str, message: str):
        from botocore.exceptions import ClientError

        return ClientError({"Error": {"Code": code, "Message": message}}, code)

    def get_secret_value(self, SecretId: str) -> dict:  # noqa: N803 (boto3's spelling)
        value = read_secret(SSM, self.ssm, SecretId)
        if value is None:
            raise self._error("ResourceNotFoundException", f"{SecretId} not found")
        return {"Name": SecretId, "SecretString": value}

    def create_secret(self, Name: str, SecretString: str) -> dict:  # noqa: N803
        return self.put_secret_value(SecretId=Name, SecretString=SecretString)

    def put_secret_value(self, SecretId: str, SecretString: str) -> dict:  # noqa: N803
        tier = "Standard" if len(SecretString.encode()) <= MAX_SECURE_STRING else "Advanced"
        self.ssm.put_parameter(Name=_ssm_name(SecretId), Value=SecretString, Type="SecureString",
                               Overwrite=True, Tier=tier)
        return {"Name": SecretId}

    def delete_secret(self, SecretId: str, **_: Any) -> dict:  # noqa: N803
        self.ssm.delete_parameter(Name=_ssm_name(SecretId))
        return {"Name": SecretId}

    def restore_secret(self, SecretId: str) -> dict:  # noqa: N803 (SSM deletes at once: nothing to restore)
        return {"Name": SecretId}

    def list_secrets(self, Filters: list | None = None, NextToken: str | None = None) -> dict:  # noqa: N803
        path = ssm_secret_path(self.prefix)
        kwargs: dict[str, Any] = {"Path": path, "Recursive": True, "WithDecryption": False}
        if NextToken:
            kwargs["NextToken"] = NextToken
        page = self.ssm.get_parameters_by_path(**kwargs)
        names = [self.prefix + item["Name"][len(path):] for item in page.get("Parameters", [])]
        answer: dict[str, Any] = {"SecretList": [{"Name": name} for name in names]}
        if page.get("NextToken"):
            answer["NextToken"] = page["NextToken"]
        return answer
