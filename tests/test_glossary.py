"""The glossary: every word of its own is defined there, and each page links its first use.

A use counts in prose only: not in code, a heading, or the text of another link.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
GLOSSARY = ROOT / "docs" / "glossary.md"
PAGES = [
    ROOT / "README.md",
    *(
        p
        for p in sorted((ROOT / "docs").glob("*.md"))
        if p.name not in ("glossary.md", "changelog.md")
    ),
]

#: Each term's anchor in the glossary: how its uses are found, and on which pages (all if
#: ``None``; a word that is also a plain word elsewhere is looked for where it is the term).
TERMS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "block": (r"\bblocks?\b", None),
    "stream": (r"\bstreams?\b", None),
    "source": (r"\bsources?\b", None),
    "snapshot": (r"\bsnapshots?\b", None),
    "threads-take-turns": (r"\btake turns\b", None),
    "place": (r"\bplaces?\b", ("cli.md", "pools.md")),
    "identity": (r"\bidentity\b", ("cli.md", "pools.md")),
    "task-key": (r"\bkey(?:s|ed)?\b", ("pools.md",)),
    "entropy": (r"\bentropy\b", None),
    "pinning": (r"\bpinn(?:ing|ed)\b", None),
    "hash-seed": (r"\bhash seeds?\b", None),
    "operator": (r"\boperators?\b", None),
    "kernel": (r"\bkernels?\b", None),
    "trace": (r"\btrac(?:e|es|ed)\b", None),
    "divergence": (r"\bdivergences?\b", None),
    "replay": (r"\breplay(?:s|ed)?\b", None),
    "leak": (r"\bleak(?:s|ed)?\b", None),
}

_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]*)\)")


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def prose(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """``text`` with all but prose blanked (same length), and each glossary link's text span
    with its anchor."""
    text = re.sub(r"^```.*?^```", _blank, text, flags=re.DOTALL | re.MULTILINE)
    # Headings, mkdocstrings' references and admonitions' titles are not prose.
    text = re.sub(r"^(#{1,6} |::: |!!! ).*$", _blank, text, flags=re.MULTILINE)
    text = re.sub(r"`[^`\n]+`", _blank, text)
    linked = []
    for link in _LINK.finditer(text):
        target = link.group(2)
        if target.split("#")[0].endswith("glossary.md") and "#" in target:
            linked.append((link.start(1), link.end(1), target.split("#", 1)[1]))
    kept = {start for start, _end, _anchor in linked}
    text = _LINK.sub(
        lambda link: (
            " " + link.group(1) + " " * (len(link.group(0)) - len(link.group(1)) - 1)
            if link.start(1) in kept
            else _blank(link)
        ),
        text,
    )
    return text, linked


def first_uses(page: Path) -> dict[str, tuple[int, int, bool]]:
    """Each term the page uses: where its first use in prose is, and whether it is linked."""
    shown, linked = prose(page.read_text())
    found = {}
    for anchor, (pattern, pages) in TERMS.items():
        if pages is not None and page.name not in pages:
            continue
        use = re.search(pattern, shown, flags=re.IGNORECASE)
        if use is not None:
            inside = any(
                start <= use.start() and use.end() <= end and name == anchor
                for start, end, name in linked
            )
            found[anchor] = (use.start(), use.end(), inside)
    return found


def link_to(page: Path, anchor: str) -> str:
    return f"{'docs/' if page.parent == ROOT else ''}glossary.md#{anchor}"


def test_every_term_is_defined_under_its_own_heading():
    headings = re.findall(r"^## (.+)$", GLOSSARY.read_text(), flags=re.MULTILINE)
    anchors = {heading.lower().replace(" ", "-") for heading in headings}
    assert set(TERMS) <= anchors


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_the_first_use_of_each_term_on_a_page_links_to_the_glossary(page):
    text = page.read_text()
    unlinked = [
        f"line {text.count(chr(10), 0, start) + 1}: [{text[start:end]}]({link_to(page, anchor)})"
        for anchor, (start, end, linked) in first_uses(page).items()
        if not linked
    ]
    assert not unlinked, "link the first use of each, as shown"


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_glossary_links_point_at_a_term_it_defines(page):
    _shown, linked = prose(page.read_text())
    assert {anchor for _start, _end, anchor in linked} <= set(TERMS)
    targets = {link.group(2).split("#")[0] for link in _LINK.finditer(page.read_text())}
    wanted = link_to(page, "").split("#")[0]
    assert all(target == wanted for target in targets if target.endswith("glossary.md"))


def test_a_readme_and_every_page_link_the_glossary():
    assert all(first_uses(page) for page in PAGES)
    assert "glossary.md" in (ROOT / "mkdocs.yml").read_text()
