"""Docs against the files they point at: every "DESIGN §n" citation in the repository's code, configs and docs
names a numbered section of docs/DESIGN.md, and every relative markdown link resolves to an existing file."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SKIP = {".venv", ".git", "logs", "data_cache", "build", "dist", "node_modules"}
CITATION = re.compile(r"DESIGN §(\d+)")
SECTION = re.compile(r"^## (\d+)\. ", re.MULTILINE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def repository_files(*suffixes: str) -> list[Path]:
    """The repository's files with these suffixes, this test file aside (its hand-made citations are examples)."""
    found = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in SKIP and not d.endswith(".egg-info")]
        found += [Path(folder) / name for name in names if Path(name).suffix in suffixes]
    return sorted(p for p in found if p != Path(__file__))


def design_sections(text: str) -> set[int]:
    return {int(n) for n in SECTION.findall(text)}


def citations(text: str) -> list[int]:
    return [int(n) for n in CITATION.findall(text)]


def broken_links(page: Path) -> list[str]:
    """Relative link targets of ``page`` (anchors and web addresses aside) that name no existing file."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        path = target.split("#", 1)[0]
        if not path or re.match(r"^[a-z][a-z0-9+.-]*:", path):  # same-page anchor, http:, mailto:, …
            continue
        if not (page.parent / path).exists():
            broken.append(target)
    return broken


def test_the_parsers_on_hand_made_text(tmp_path):
    assert design_sections("# t\n## 1. A\ntext ## 9. not a heading\n## 2. B\n### 3. sub\n") == {1, 2}
    assert citations("see DESIGN §2 and (DESIGN §10); DESIGN § 3 is no citation") == [2, 10]
    (tmp_path / "a.md").write_text("[ok](b.md#x) [web](https://x.org/y.md) [anchor](#top) [bad](missing.md)")
    (tmp_path / "b.md").write_text("")
    assert broken_links(tmp_path / "a.md") == ["missing.md"]


def test_design_sections_are_numbered_in_order():
    numbers = [int(n) for n in SECTION.findall((ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8"))]
    assert numbers == list(range(1, len(numbers) + 1))


def test_every_design_citation_names_a_section():
    sections = design_sections((ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8"))
    cited = {}
    for path in repository_files(".py", ".md", ".yaml"):
        for n in citations(path.read_text(encoding="utf-8")):
            cited.setdefault(n, []).append(str(path.relative_to(ROOT)))
    assert cited, "no DESIGN § citation found: the file walk is broken"
    missing = {f"§{n}": files for n, files in cited.items() if n not in sections}
    assert not missing, f"citations of sections docs/DESIGN.md does not have (it has {sorted(sections)}): {missing}"


@pytest.mark.parametrize("page", repository_files(".md"), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    assert not broken_links(page), f"{page.relative_to(ROOT)}: links to missing files: {broken_links(page)}"
