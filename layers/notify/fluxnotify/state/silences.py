"""Silences: mute the events of some objects (a namespace, a cluster) for a while, without
editing Alerts (`fluxnotify silence add|list|expire`, delivery/stages/silences.py).

A silence has an id, matchers (``kind``, ``namespace``, ``name``, ``reason``: ``*`` globs),
an optional cluster (a glob too), a start, an end and a comment. It applies from its start
until its end; `expire` moves the end to now. Bounded: at most MAX_SILENCES (active and
recently ended together: an ended one is kept RETENTION for `list --all`, and the oldest
ended ones make room first), each of bounded size, none longer than MAX_SECONDS.

Storage, chosen so that the dispatcher reads every silence in ONE request:

* AWS: ONE item of the state table, ``pk`` = ``silences#list``: the list as JSON (``body``), a
  ``version`` for compare-and-set writes and ``expires_at`` (TTL: the last end + RETENTION,
  so an item whose silences all ended goes away). Bounded at ~150 KB (< DynamoDB's 400 KB).
* local: the table ``silences`` of serve's SQLite file, one row per silence.

The dispatcher reads through ``ActiveSilences``: the list is kept ``refresh`` seconds
(DYNAMO_REFRESH on AWS: ≤ 1 GetItem per 30 s per warm Lambda, 0 per event), and a failed
read keeps the last list read (none at first: then nothing is muted, rather than lost).
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

logger = logging.getLogger(__name__)

MATCH_KEYS = ("kind", "namespace", "name", "reason")
MAX_SILENCES = 100
MAX_SECONDS = 90 * 24 * 3600  # the longest silence
RETENTION = 7 * 24 * 3600  # an ended silence stays listed (list --all) this long
MAX_VALUE = 253  # a Kubernetes name's length
MAX_COMMENT = 500
DYNAMO_REFRESH = 30.0
SQLITE_REFRESH = 1.0
ATTEMPTS = 5
PK = "silences#list"  # one item: every silence


class SilenceError(ValueError):
    """A silence that cannot be added or changed; the message names the field."""


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[tuple[str, str], ...]  # (key, glob), keys from MATCH_KEYS, each once
    cluster: str  # a glob; "" = every cluster
    starts_at: float
    ends_at: float
    comment: str = ""
    created_by: str = ""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["matchers"] = dict(self.matchers)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Silence:
        """ValueError (or KeyError, TypeError) for an entry `silence add` could not have written."""
        matchers = tuple((str(k), str(v)) for k, v in data["matchers"].items())
        cluster = str(data.get("cluster") or "")
        if any(key not in MATCH_KEYS for key, _ in matchers) or not (matchers or cluster):
            raise ValueError("unknown matcher, or nothing to match")
        return cls(id=str(data["id"]), matchers=matchers, cluster=cluster, starts_at=float(data["starts_at"]),
                   ends_at=float(data["ends_at"]), comment=str(data.get("comment") or ""),
                   created_by=str(data.get("created_by") or ""))

    def describe(self) -> str:
        """``kind=Kustomization,name=web-*`` (and ``cluster=prod``)."""
        parts = [f"{key}={value}" for key, value in self.matchers]
        return ",".join(parts + ([f"cluster={self.cluster}"] if self.cluster else [])) or "(everything)"


def parse_matchers(texts: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``--match kind=Kustomization,namespace=apps,name=web-*`` (repeatable) as (key, glob)
    pairs in MATCH_KEYS order; SilenceError names a bad key or value."""
    found: dict[str, str] = {}
    for text in texts:
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            key, value = key.strip(), value.strip().strip("'\"")
            if not sep or key not in MATCH_KEYS:
                raise SilenceError(f"--match {part!r}: expected KEY=GLOB with KEY one of {', '.join(MATCH_KEYS)}")
            if key in found:
                raise SilenceError(f"--match: {key} given twice")
            if not value or len(value) > MAX_VALUE:
                raise SilenceError(f"--match {key}: the value must have 1 to {MAX_VALUE} characters")
            found[key] = value
    return tuple((key, found[key]) for key in MATCH_KEYS if key in found)


def new_silence(matchers: tuple[tuple[str, str], ...], cluster: str, ends_at: float, comment: str = "",
                created_by: str = "", now: float | None = None) -> Silence:
    now = time.time() if now is None else now
    if not matchers and not cluster:
        raise SilenceError("a silence needs --match or --cluster (use --match name='*' to mute everything)")
    if len(cluster) > MAX_VALUE:
        raise SilenceError(f"--cluster: at most {MAX_VALUE} characters")
    if ends_at <= now:
        raise SilenceError("the end of the silence is not in the future")
    if ends_at - now > MAX_SECONDS:
        raise SilenceError(f"a silence lasts at most {MAX_SECONDS // 86400} days")
    if len(comment) > MAX_COMMENT:
        raise SilenceError(f"--comment: at most {MAX_COMMENT} characters")
    return Silence(secrets.token_hex(6), matchers, cluster, now, ends_at, comment, created_by[:MAX_VALUE])


def pruned(silences: Sequence[Silence], now: float) -> list[Silence]:
    """Without the silences that ended more than RETENTION ago."""
    return [s for s in silences if s.ends_at > now - RETENTION]


def added(silences: Sequence[Silence], silence: Silence, now: float) -> list[Silence]:
    """The list with ``silence``: refused when MAX_SILENCES are active; the oldest ended
    silences make room."""
    kept = pruned(silences, now)
    if sum(1 for s in kept if s.ends_at > now) >= MAX_SILENCES:
        raise SilenceError(f"{MAX_SILENCES} silences are active already: expire one first")
    ended = sorted((s for s in kept if s.ends_at <= now), key=lambda s: s.ends_at)
    while len(kept) >= MAX_SILENCES and ended:
        kept.remove(ended.pop(0))
    return [*kept, silence]


def expired(silences: Sequence[Silence], silence_id: str, now: float) -> list[Silence]:
    """The list with silence ``silence_id`` ended now; SilenceError when it is unknown or over."""
    found = next((s for s in silences if s.id == silence_id), None)
    if found is None:
        raise SilenceError(f"no silence {silence_id!r}")
    if found.ends_at <= now:
        raise SilenceError(f"silence {silence_id} has ended already")
    return [replace(s, ends_at=now) if s is found else s for s in pruned(silences, now)]


def encode(silences: Sequence[Silence]) -> str:
    return json.dumps([s.as_json() for s in silences], separators=(",", ":"), ensure_ascii=False)


def decode(text: str) -> list[Silence]:
    """Every well-formed silence of the stored list (a malformed entry is logged and left out);
    SilenceError when the list itself is unreadable."""
    try:
        entries = json.loads(text)
    except ValueError as err:
        raise SilenceError(f"the stored silences are not readable: {err}") from None
    if not isinstance(entries, list):
        raise SilenceError("the stored silences are not a list")
    result = []
    for data in entries:
        try:
            result.append(Silence.from_json(data))
        except (KeyError, TypeError, ValueError, AttributeError):
            logger.warning("malformed stored silence left out", extra={"silence": str(data)[:200]})
    return result


class SilenceStore(Protocol):
    def load(self) -> list[Silence]:
        """Every silence, the recently ended ones included."""
        ...

    def change(self, edit: Callable[[list[Silence]], list[Silence]]) -> list[Silence]:
        """Apply ``edit`` atomically (against concurrent changes); the new list."""
        ...


class SqliteSilences:
    def __init__(self, database: Any):
        self.db = database
        self.db.execute("CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, body TEXT NOT NULL)")

    def load(self) -> list[Silence]:
        rows = self.db.execute("SELECT body FROM silences")
        return decode("[" + ",".join(row[0] for row in rows) + "]")

    def change(self, edit: Callable[[list[Silence]], list[Silence]]) -> list[Silence]:
        with self.db.transaction() as connection:
            rows = connection.execute("SELECT body FROM silences").fetchall()
            changed = edit(decode("[" + ",".join(row[0] for row in rows) + "]"))
            connection.execute("DELETE FROM silences")
            connection.executemany("INSERT INTO silences VALUES (?, ?)",
                                   [(s.id, json.dumps(s.as_json(), ensure_ascii=False)) for s in changed])
        return changed


def read_sqlite_file(path: str) -> list[Silence]:
    """The silences of a serve database, opened read-only (`render --db`): none without the table."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT body FROM silences").fetchall()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return []
        raise
    finally:
        connection.close()
    return decode("[" + ",".join(row[0] for row in rows) + "]")


class DynamoSilences:
    MAX_BYTES = 300_000  # the item stays well below DynamoDB's 400 KB

    def __init__(self, table: str, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client, self.table = client, table

    def _get(self, consistent: bool) -> dict[str, Any] | None:
        return self.client.get_item(TableName=self.table, Key={"pk": {"S": PK}},
                                    ConsistentRead=consistent).get("Item")

    def load(self, consistent: bool = False) -> list[Silence]:
        item = self._get(consistent)
        return decode(item["body"]["S"]) if item else []

    def change(self, edit: Callable[[list[Silence]], list[Silence]]) -> list[Silence]:
        """Compare-and-set on ``version``: a writer that lost the race applies its edit again."""
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0.02, 0.1) * attempt)  # apart from the other writer
            item = self._get(consistent=True)
            version = int(item["version"]["N"]) if item else 0
            changed = edit(decode(item["body"]["S"]) if item else [])
            body = encode(changed)
            if len(body.encode()) > self.MAX_BYTES:
                raise SilenceError("the silences would outgrow their item: expire some first")
            last_end = max((s.ends_at for s in changed), default=time.time())
            new = {"pk": {"S": PK}, "body": {"S": body}, "version": {"N": str(version + 1)},
                   "expires_at": {"N": str(int(last_end + RETENTION))}}
            condition = ({"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}
                         if item else {"ConditionExpression": "attribute_not_exists(pk)"})
            try:
                self.client.put_item(TableName=self.table, Item=new, **condition)
                return changed
            except self.client.exceptions.ConditionalCheckFailedException:
                continue
        raise SilenceError(f"the silences changed under this command {ATTEMPTS} times: nothing changed, run it again")


class SilenceSource(Protocol):
    def active(self) -> list[Silence]:
        """The silences in force now."""
        ...


class ActiveSilences:
    """What the dispatcher asks per event: the active silences, read at most once per
    ``refresh`` seconds (single-flight); a failed read keeps the last list."""

    def __init__(self, store: SilenceStore, refresh: float, clock: Callable[[], float] = time.time):
        self.store, self.refresh, self.clock = store, refresh, clock
        self._lock = threading.Lock()
        self._silences: list[Silence] = []
        self._read_at: float | None = None

    def active(self) -> list[Silence]:
        now = self.clock()
        with self._lock:
            if self._read_at is None or now - self._read_at >= self.refresh:
                self._read_at = now
                try:
                    self._silences = self.store.load()
                except Exception as err:  # noqa: BLE001 — never fail a delivery for a silence read
                    logger.warning("could not read the silences; using the last list read",
                                   extra={"error": repr(err)[:300]})
            silences = self._silences
        return [s for s in silences if s.active(now)]


class StaticSilences:
    """A fixed list (render --db)."""

    def __init__(self, silences: Sequence[Silence], clock: Callable[[], float] = time.time):
        self.silences, self.clock = list(silences), clock

    def active(self) -> list[Silence]:
        now = self.clock()
        return [s for s in self.silences if s.active(now)]
