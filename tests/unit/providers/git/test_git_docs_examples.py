"""The examples of docs/providers/<type>.md for the git family render a delivery."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixtures.git.forge_fixtures import raw_event, render_text

DOCS = Path(__file__).resolve().parents[4] / "docs" / "providers"
TYPES = ["githubdispatch", "githubpullrequestcomment", "gitlabmergerequestcomment", "gitea",
         "giteapullrequestcomment", "bitbucketserver"]  # fmt: skip


@pytest.mark.parametrize("provider_type", TYPES)
def test_the_documented_example_renders(provider_type):
    page = (DOCS / f"{provider_type}.md").read_text()
    [example] = re.findall(r"```yaml\n(.*?)```", page, re.S)
    raw = raw_event()
    kind = re.search(r"- kind: (\w+)", example).group(1)
    raw["involvedObject"] |= {"kind": kind, "name": "podinfo" if kind == "Kustomization" else "app"}
    raw["involvedObject"]["namespace"] = re.search(r"namespace: ([\w-]+)", example).group(1)
    if kind == "Kustomization" and "name: flux-system" in example:
        raw["involvedObject"]["name"] = "flux-system"
    [result] = render_text(example, raw)
    assert result["type"] == provider_type
    assert result["error"] is None and result["skipped"] is None, result
    [delivery] = result["deliveries"]
    assert delivery["method"] == "POST"
