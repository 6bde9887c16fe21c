"""The documentation's links: every relative link and image in README.md, docs/*.md and the model cards points to a
file that exists (and, for a link into a Markdown file with ``#fragment``, to one of its headings), and every
"DESIGN.md §N" that the code or the docs cite names a numbered section of docs/DESIGN.md. Plain text parsing, no
package imports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "DESIGN.md"
LINKED_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
                *sorted(ROOT.glob("checkpoints/*/MODEL_CARD.md"))]
CITING_DIRS = ("genie_gym", "tests", "benchmarks", "evals", "campaign", "examples", "docs", "checkpoints")
CITING_SUFFIXES = {".py", ".md", ".sh", ".cfg", ".toml", ".txt"}

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
CITATION = re.compile(r"DESIGN(?:\.md)?\s*§\s*(\d+(?:\.\d+)*)")
SECTION_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.?\s")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of the lines outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading id of a Markdown page (a repeated heading gets ``-1``, ``-2``, ... as on GitHub)."""
    seen: dict[str, int] = {}
    ids = set()
    for _, line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        ids.add(anchor if count == 0 else f"{anchor}-{count}")
    return ids


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """``"page:line: target (why)"`` for every relative link of ``page`` that does not resolve (paths shown relative
    to ``root``)."""
    problems = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto:, ...
                continue
            path_part, _, fragment = target.partition("#")
            where = f"{page.relative_to(root)}:{number}: {target}"
            linked = (page.parent / path_part).resolve() if path_part else page
            if not linked.exists():
                problems.append(f"{where} (no such file)")
            elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
                problems.append(f"{where} (no heading #{fragment} in {linked.relative_to(root)})")
    return problems


def design_sections() -> set[str]:
    """The section numbers of docs/DESIGN.md's headings ("3", "3.1", ...)."""
    numbers = set()
    for _, line in prose_lines(DESIGN.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match and (number := SECTION_NUMBER.match(match.group(2) + " ")):
            numbers.add(number.group(1))
    return numbers


def citing_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile"]
    for folder in CITING_DIRS:
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in CITING_SUFFIXES]
    return files


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    assert not broken_links(page), "broken links:\n" + "\n".join(broken_links(page))


def test_design_citations_name_existing_sections() -> None:
    sections = design_sections()
    assert {"3", "3.1", "4", "5", "5.9", "6", "7"} <= sections, f"docs/DESIGN.md lost its numbering: {sorted(sections)}"
    missing = []
    for path in citing_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            missing += [f"{path.relative_to(ROOT)}:{number}: §{cited}" for cited in CITATION.findall(line)
                        if cited not in sections]
    assert not missing, f"cited sections that docs/DESIGN.md lacks ({sorted(sections)}):\n" + "\n".join(missing)


def test_the_checker_finds_a_broken_link_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Real heading\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#real-heading) [gone](missing.md) [bad](other.md#nope) `[code](x.md)`\n"
                    "```\n[fenced](y.md)\n```\n[web](https://example.com) [self](#top)\n# Top\n")
    problems = broken_links(page, root=tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == ["missing.md (no such file)",
                                                       "other.md#nope (no heading #nope in other.md)"]
