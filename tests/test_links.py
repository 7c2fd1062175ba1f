"""Every relative link in the README, the docs and the notebooks' prose points at a file in the repository."""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_sources():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        yield path, path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        yield path, "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def relative_links(text: str) -> list[str]:
    links = [m.group(1).split("#")[0] for m in LINK.finditer(text)]
    return [link for link in links if link and not re.match(r"[a-z]+:", link)]


@pytest.mark.parametrize("path,text", list(markdown_sources()), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_relative_links_resolve_inside_the_repository(path, text):
    for link in relative_links(text):
        target = (path.parent / link).resolve()
        assert target.is_relative_to(ROOT), f"{path.name}: {link} points outside the repository"
        assert target.exists(), f"{path.name}: {link} does not exist"


def test_the_link_check_sees_a_broken_link(tmp_path):
    assert relative_links("see [04](04_missing.ipynb) and [web](https://example.org)") == ["04_missing.ipynb"]
    assert not (ROOT / "notebooks" / "04_missing.ipynb").exists()


def test_no_prose_points_at_files_beside_the_repository():
    for path, text in markdown_sources():
        assert "../shared/" not in text, f"{path.name} points at ../shared/, outside the repository"
