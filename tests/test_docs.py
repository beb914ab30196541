"""The project as people take it: a short README that links every page of docs/, the licence,
the changelog and the security policy, and no relative link or anchor in them that leads
nowhere."""

import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
DOC_PAGES = sorted((ROOT / "docs").glob("*.md"))
TOP_FILES = ("LICENSE", "CHANGELOG.md", "SECURITY.md")
MARKDOWN = [README, *DOC_PAGES, ROOT / "CHANGELOG.md", ROOT / "SECURITY.md"]
MAX_README_LINES = 220


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def links(text: str) -> list[str]:
    return re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", prose(text))


def headings(path: Path) -> list[str]:
    # Fenced blocks go (they hold `# comments`); code spans stay, since headings keep their text.
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return re.findall(r"^#{1,6} (.+?)\s*$", text, flags=re.M)


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to
    hyphens, and -1, -2 after a repeated one."""
    seen: dict[str, int] = {}
    found = set()
    for heading in headings(path):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_the_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_the_licence_changelog_and_security_policy_exist():
    for name in TOP_FILES:
        assert (ROOT / name).is_file(), f"{name} is missing"
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert f"## {project['version']} - " in (ROOT / "CHANGELOG.md").read_text()


def test_the_readme_links_every_docs_page_and_the_top_files():
    assert DOC_PAGES, "docs/ has no pages"
    targets = {link.split("#", 1)[0] for link in links(README.read_text())}
    expected = {f"docs/{page.name}" for page in DOC_PAGES} | set(TOP_FILES)
    assert not expected - targets, f"README.md does not link {sorted(expected - targets)}"


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    broken = []
    for link in links(page.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # https:, mailto: ...
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{link}: no such heading in {path.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)
