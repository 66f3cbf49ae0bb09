"""The project documents itself (issue 12.10): nothing in the repository points outside it.

- no file mentions `../shared` (the session's design notes are not part of the project);
- every markdown link is relative and resolves inside the repository, to a file that exists
  (pages other branches are writing may be missing until they are merged);
- no markdown link points to an external site: the docs say it in their own words. URLs in
  code blocks and manifests are example endpoints (hooks.slack.com in a Provider) and fine.
- docs/providers/README.md lists Flux's 34 types and fluxnotify's own, and each page's example
  validates Ready.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from fluxnotify import providers
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.validate import conditions

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)[^)]*\)|<a\s+href=\"([^\"]+)\"")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
ALL_TYPES = (
    "slack discord msteams rocket generic generic-hmac github gitlab bitbucket azuredevops googlechat "
    "webex sentry azureeventhub telegram lark matrix opsgenie alertmanager grafana githubdispatch "
    "githubpullrequestcomment gitlabmergerequestcomment gitea giteapullrequestcomment bitbucketserver "
    "googlepubsub pagerduty datadog nats zulip otel zoom incident.io"
).split() + [t for t in providers.supported_types() if providers.fluxnotify_only(t)]  # fluxnotify's own
# Pages other branches write; docs/README.md links them before they are merged.
OTHER_BRANCH_PAGES = {f"docs/{p}.md" for p in ("local", "aws", "delivery", "extensions", "status")}


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def markdown_files() -> list[Path]:
    return [p for p in tracked_files() if p.suffix == ".md"]


def test_no_file_points_at_the_shared_notes():
    here = Path(__file__).resolve()
    offenders = [str(p.relative_to(ROOT)) for p in tracked_files()
                 if p != here and (text := text_of(p)) is not None and "../shared" in text]
    assert offenders == []


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_links_stay_inside_the_repository(path: Path):
    prose = FENCE.sub("", path.read_text(encoding="utf-8"))
    for match in LINK.finditer(prose):
        target = match.group(1) or match.group(2)
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE), f"external link {target}"
        file_part = target.split("#", 1)[0]
        if not file_part:
            continue  # an anchor on the same page
        resolved = (path.parent / file_part).resolve()
        assert resolved.is_relative_to(ROOT), f"{target} leaves the repository"
        relative = str(resolved.relative_to(ROOT))
        assert resolved.exists() or relative in OTHER_BRANCH_PAGES, f"{target} does not exist"


def test_provider_index_lists_every_type_with_its_page():
    index = (ROOT / "docs/providers/README.md").read_text()
    for type_name in ALL_TYPES:
        assert f"[`{type_name}`]({type_name}.md)" in index, type_name
    assert index.count(".md)") - index.count("../operating.md)") == len(ALL_TYPES)


def provider_pages() -> list[Path]:
    return sorted(p for p in (ROOT / "docs/providers").glob("*.md") if p.name != "README.md")


@pytest.mark.parametrize("page", provider_pages(), ids=lambda p: p.stem)
def test_provider_page_example_is_ready(page: Path):
    text = page.read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert blocks, "a page shows a working example"
    for block in blocks:
        found = conditions(load_yaml(block, str(page)))
        assert found and all(c.ready for c in found), [(c.key, c.message) for c in found]
        assert any(c.kind == "Provider" and f"type: {page.stem}" in block for c in found)
