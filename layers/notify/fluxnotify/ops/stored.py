"""The AWS config store as `import`, `export` and `validate --from-aws` see it.

The layout is the one `config.aws.AwsStore` reads (README "Configure Providers, Alerts and
Secrets"): ``<CONFIG_PREFIX>/<namespace>/<Kind>/<name>``, one SSM String parameter per
Provider or Alert, the manifest as compact JSON; one Secret per Kubernetes Secret, a JSON
object of its decoded keys, where SECRET_STORE says (config/secretstore.py).

Everything here takes boto3 clients (or creates them from the default session, so
``AWS_ENDPOINT_URL`` and the usual credentials apply). Secret values are read to compare
and validate, and are never printed: summaries name secrets and, for a changed one, the
keys that changed.

``export`` writes Secrets with placeholder values (``<stored in Secrets Manager: NAME>``).
``import`` understands them: a placeholder keeps the value stored under NAME, so an
exported file can be edited and imported again without overwriting credentials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fluxnotify.config.aws import secret_name
from fluxnotify.config.options import redact, secret_forms
from fluxnotify.config.secretstore import SSM, SsmSecretsClient, read_secret
from fluxnotify.config.snapshot import META
from fluxnotify.model.manifests import (
    Alert,
    Manifest,
    ManifestError,
    ObjectMeta,
    Provider,
    Secret,
    parse_object,
)
from fluxnotify.ops.validate import Condition, conditions
from fluxnotify.settings import SECRETS_MANAGER, Settings

KINDS = ("Provider", "Alert")
PLACEHOLDER = "<stored in Secrets Manager: {name}>"
PLACEHOLDER_VALUE = re.compile(r"^<stored in Secrets Manager: (?P<name>[^<>]+)>$")
STORED_SOURCE = "\0stored"  # source of objects read from AWS only to help validate file objects


class AwsError(RuntimeError):
    """AWS refused or could not be reached; the message is one line, without secret values."""


class ImportRefused(ValueError):
    """The files cannot be imported as they are (invalid objects, unresolved placeholders)."""


# --------------------------------------------------------------------------- AWS access


def config_prefix(value: str | None = None) -> str:
    """The SSM path prefix: argument, else CONFIG_PREFIX, else /fluxnotify (always with a leading /)."""
    prefix = (value or Settings.from_env().config_prefix).rstrip("/")
    return prefix if prefix.startswith("/") else "/" + prefix


def secrets_prefix(value: str | None = None) -> str:
    """The Secrets Manager name prefix: argument, else SECRETS_PREFIX, else fluxnotify."""
    return (value or Settings.from_env().secrets_prefix).rstrip("/")


def clients(ssm: Any = None, secrets: Any = None) -> tuple[Any, Any]:
    """boto3 SSM and Secrets Manager clients from the default session unless given."""
    if ssm is None or secrets is None:
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": 8})
        try:
            ssm = ssm or boto3.client("ssm", config=config)
            secrets = secrets or boto3.client("secretsmanager", config=config)
        except Exception as err:  # NoRegionError, unknown profile, ...
            raise AwsError(_one_line(err)) from None
    return ssm, secrets


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _error_code(err: BaseException) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def aws_call(what: str, function: Callable[..., Any], hide: Iterable[str] = (), **kwargs) -> Any:
    """One AWS call; botocore errors become AwsError naming what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return function(**kwargs)
    except (ClientError, BotoCoreError) as err:
        secrets = sorted({v for v in hide if len(v) >= 4}, key=len, reverse=True)
        raise AwsError(f"{what}: {redact(_one_line(err), secrets)}") from None


@dataclass
class StoredSecret:
    name: str
    state: str  # "present", "absent" or "deleted" (scheduled for deletion)
    data: dict[str, str] | None = None  # None when absent or not a JSON object of strings


class Stored:
    """What is stored under the prefixes, read lazily and cached for one command."""

    def __init__(self, ssm, secrets, config_prefix: str, secrets_prefix: str):
        self._fallback: Any = None  # with ssm: Secrets Manager, where the dispatcher also looks
        self._fallback_read: list[dict[str, str] | None] = []
        if Settings.from_env().secret_store == SSM:  # SECRET_STORE=ssm: Secrets as SecureString parameters
            secrets, self._fallback = SsmSecretsClient(ssm, secrets_prefix), secrets
        self.ssm, self.secrets = ssm, secrets
        self.config_prefix, self.secrets_prefix = config_prefix, secrets_prefix
        self._parameters: dict[str, dict] | None = None
        self._secret_names: list[str] | None = None
        self.secret_values: dict[str, StoredSecret] = {}

    def parameters(self) -> dict[str, dict]:
        """Every parameter under the config prefix: name -> {"Value", "Type", "Version"}."""
        if self._parameters is None:
            found: dict[str, dict] = {}
            token = None
            while True:
                kwargs: dict[str, Any] = {"Path": self.config_prefix, "Recursive": True}
                if token:
                    kwargs["NextToken"] = token
                page = aws_call(
                    f"reading parameters under {self.config_prefix}",
                    self.ssm.get_parameters_by_path,
                    **kwargs,
                )
                for item in page.get("Parameters", []):
                    if not item["Name"].startswith(f"{self.config_prefix}/{META}/"):  # the version marker
                        found[item["Name"]] = item
                token = page.get("NextToken")
                if not token:
                    break
            self._parameters = found
        return self._parameters

    def parameter_identity(self, name: str) -> tuple[str, str, str] | None:
        """(kind, namespace, name) for a parameter in fluxnotify's layout, else None."""
        rest = name[len(self.config_prefix) + 1 :] if name.startswith(self.config_prefix + "/") else ""
        parts = rest.split("/")
        if len(parts) == 3 and parts[1] in KINDS and all(parts):
            return parts[1], parts[0], parts[2]
        return None

    def secret_names(self) -> list[str]:
        """Names of the secrets under the secrets prefix (not those scheduled for deletion)."""
        if self._secret_names is None:
            start = self.secrets_prefix + "/"
            names: list[str] = []
            token = None
            while True:
                kwargs: dict[str, Any] = {"Filters": [{"Key": "name", "Values": [start]}]}
                if token:
                    kwargs["NextToken"] = token
                page = aws_call(f"listing secrets under {start}", self.secrets.list_secrets, **kwargs)
                names += [s["Name"] for s in page.get("SecretList", []) if s["Name"].startswith(start)]
                token = page.get("NextToken")
                if not token:
                    break
            self._secret_names = sorted(set(names))
        return self._secret_names

    def secret_identity(self, name: str) -> tuple[str, str] | None:
        """(namespace, name) for a secret in fluxnotify's layout, else None."""
        parts = name[len(self.secrets_prefix) + 1 :].split("/")
        return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None

    def secret_by_name(self, name: str) -> StoredSecret:
        if name not in self.secret_values:
            from botocore.exceptions import ClientError

            try:
                answer = self.secrets.get_secret_value(SecretId=name)
            except ClientError as err:
                code = _error_code(err)
                if code == "ResourceNotFoundException":
                    self.secret_values[name] = StoredSecret(name, "absent")
                    return self.secret_values[name]
                if code == "InvalidRequestException" and "delet" in str(err).lower():
                    self.secret_values[name] = StoredSecret(name, "deleted")
                    return self.secret_values[name]
                raise AwsError(f"reading secret {name}: {_one_line(err)}") from None
            except Exception as err:  # BotoCoreError: endpoint, credentials
                raise AwsError(f"reading secret {name}: {_one_line(err)}") from None
            self.secret_values[name] = StoredSecret(
                name, "present", json_object(answer.get("SecretString"))
            )
        return self.secret_values[name]

    def secret_data_read(self) -> list[dict[str, str] | None]:
        """The secret values read so far (to keep them out of messages)."""
        return [s.data for s in self.secret_values.values()] + self._fallback_read

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The secret as the dispatcher sees it: a dict of its keys, or None (with ssm, a Secret
        not there is read from Secrets Manager, as config/aws.py does)."""
        name = secret_name(self.secrets_prefix, namespace, name)
        data = self.secret_by_name(name).data
        if data is None and self._fallback is not None and self.secret_by_name(name).state == "absent":
            with contextlib.suppress(Exception):  # not there either, or not readable: absent
                data = json_object(read_secret(SECRETS_MANAGER, self._fallback, name))
                self._fallback_read.append(data)
        return data

    def objects(self) -> tuple[list[Provider | Alert], list[Condition]]:
        """The stored Providers and Alerts (sorted by parameter name), and a not-Ready
        condition for each parameter under the prefix that cannot be used."""
        objects: list[Provider | Alert] = []
        broken: list[Condition] = []
        for name, item in sorted(self.parameters().items()):
            identity = self.parameter_identity(name)
            kind, key = (identity[0], f"{identity[1]}/{identity[2]}") if identity else ("Parameter", name)
            try:
                if identity is None:
                    raise ManifestError(
                        f"ssm:{name}: not a {'/'.join(KINDS)} parameter "
                        f"({self.config_prefix}/<namespace>/<Kind>/<name>)"
                    )
                try:
                    document = json.loads(item.get("Value", ""))
                except ValueError as err:
                    raise ManifestError(f"ssm:{name}: not JSON: {err}") from None
                obj = parse_object(document, source=f"ssm:{name}")
                if not isinstance(obj, Provider | Alert):
                    raise ManifestError(f"ssm:{name}: holds no Provider or Alert")
            except ManifestError as err:
                broken.append(Condition(kind, key, False, "ValidationFailed", str(err), f"ssm:{name}"))
                continue
            objects.append(obj)
        return objects, broken


def json_object(text: str | None) -> dict[str, str] | None:
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}


def secret_refs(provider: Provider) -> list[str]:
    """Names of the Secrets a Provider references (secretRef, certSecretRef, proxySecretRef)."""
    spec = provider.spec
    refs = (spec.secret_ref, spec.cert_secret_ref, spec.proxy_secret_ref)
    return list(dict.fromkeys(ref.name for ref in refs if ref is not None))


def secret_values(objects: Iterable[Manifest], extra: Iterable[dict[str, str] | None] = ()) -> list[str]:
    """Every form of every secret value, to keep out of messages (options.secret_forms)."""
    values = [v for o in objects if isinstance(o, Secret) for v in o.data.values()]
    values += [v for data in extra if data for v in data.values()]
    return secret_forms(values)


def redacted(found: list[Condition], secrets: list[str]) -> list[Condition]:
    return [dataclasses.replace(c, message=redact(c.message, secrets)) for c in found]


# --------------------------------------------------------------------------- validate --from-aws


def stored_conditions(
    *, config_prefix_: str | None = None, secrets_prefix_: str | None = None, ssm=None, secrets=None,
    providers_out: list[Provider] | None = None,
) -> list[Condition]:
    """Ready conditions of what is stored in AWS, as the dispatcher would load it: stored
    Providers and Alerts, with their Secrets read from Secrets Manager (the Providers are
    appended to ``providers_out``). Raises AwsError."""
    stored = Stored(*clients(ssm, secrets), config_prefix(config_prefix_), secrets_prefix(secrets_prefix_))
    objects, broken = stored.objects()
    if providers_out is not None:
        providers_out.extend(o for o in objects if isinstance(o, Provider))
    manifests: list[Manifest] = list(objects)
    read: list[dict[str, str] | None] = []
    for ns, ref in sorted(
        {(p.metadata.namespace, r) for p in objects if isinstance(p, Provider) for r in secret_refs(p)}
    ):
        data = stored.secret(ns, ref)
        read.append(data)
        if data is not None:
            manifests.append(Secret(ObjectMeta(ref, ns), data, STORED_SOURCE))
    return redacted(conditions(manifests), secret_values([], read)) + broken
