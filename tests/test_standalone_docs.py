"""The repository stands alone: its docs and data never send a user to files they do not have.

The operator guidelines the rules come from, and the project's early design
notes, lived outside the repository. Users have neither, so every reference
goes to `docs/guidelines.md` (the guidelines, by document ID and line) or
`docs/contracts.md` (the categories and outputs) instead. These tests keep it
so: no tracked file may point outside, and every guideline line a rule file
cites must be one `docs/guidelines.md` describes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDELINES = ROOT / "docs" / "guidelines.md"

# Spelled in pieces so that this file does not match itself.
OUTSIDE = ("../" + "shared", "shared/" + "guidelines", "design" + ".md")


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name and not name.startswith("tests/fixtures/")]


def test_no_tracked_file_points_outside_the_repository():
    hits = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree, or a submodule
            continue
        data = path.read_bytes().lower()
        for needle in OUTSIDE:
            if needle.encode() in data:
                line = data[: data.index(needle.encode())].count(b"\n") + 1
                hits.append(f"{name}:{line}: {needle!r}")
    assert not hits, (
        "these files point outside the repository; cite docs/guidelines.md (guidelines G003 l.134) "
        "or docs/contracts.md instead:\n" + "\n".join(hits)
    )


def documented_passages() -> dict[str, list[tuple[int, int]]]:
    """{'G003': [(130, 136), ...]}: the line ranges of the passage tables, per document section."""
    passages: dict[str, list[tuple[int, int]]] = {}
    doc = None
    for line in GUIDELINES.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            m = re.match(r"## (G\d{3}) ", line)
            doc = m.group(1) if m else None
            continue
        m = re.match(r"\| l\.(\d+)(?:-(\d+))? \|", line)
        if doc and m:
            passages.setdefault(doc, []).append((int(m.group(1)), int(m.group(2) or m.group(1))))
    return passages


def citation_blocks(text: str) -> list[str]:
    """A run of comment lines, or one `source:` line: the units a citation's document ID carries over."""
    blocks, run = [], []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("#"):
            run.append(stripped)
            continue
        if run:
            blocks.append(" ".join(run))
            run = []
        if stripped.startswith("source:"):
            blocks.append(stripped)
    if run:
        blocks.append(" ".join(run))
    return blocks


def citations(block: str) -> list[tuple[str, int, int]]:
    """("G003", 130, 136) for "G003 l.130-136"; a bare "l.N" belongs to the last ID before it."""
    found, doc = [], None
    for m in re.finditer(r"\b(G\d{3})\b|\bl\.(\d+)(?:-(\d+))?", block):
        if m.group(1):
            doc = m.group(1)
        elif doc:
            found.append((doc, int(m.group(2)), int(m.group(3) or m.group(2))))
    return found


def test_citations_parse():
    """The parser the next test relies on: IDs carry over to bare line numbers, ranges stay ranges."""
    got = citations('source: "guidelines G003 l.49 and l.110-112; G001 l.57: x (l.128)"')
    assert got == [("G003", 49, 49), ("G003", 110, 112), ("G001", 57, 57), ("G001", 128, 128)]
    assert citations("issue 3, l.5 without a document") == []
    assert citation_blocks("# a G003\n# l.5\nid: x\n  source: \"G001 l.2\"\n# l.9\n") == [
        "# a G003 # l.5", 'source: "G001 l.2"', "# l.9"]


def test_rule_citations_are_described_in_docs_guidelines():
    passages = documented_passages()
    assert set(passages) == {"G000", "G001", "G002", "G003", "G004"}, sorted(passages)
    rule_files = [n for n in tracked_files() if n.endswith(".yaml") and "rules/" in n]
    assert len(rule_files) > 50, rule_files
    problems, cited = [], 0
    for name in rule_files:
        text = (ROOT / name).read_text(encoding="utf-8")
        for old in re.findall(r"guidelines? \d{3}\b", text):
            problems.append(f"{name}: {old!r}: write the document ID, e.g. 'guidelines G003 l.134'")
        for block in citation_blocks(text):
            for doc, first, last in citations(block):
                cited += 1
                if not any(a <= last and first <= b for a, b in passages.get(doc, [])):
                    where = f"l.{first}" if first == last else f"l.{first}-{last}"
                    problems.append(f"{name}: {doc} {where} is not among the passages of docs/guidelines.md")
    assert cited > 100, cited
    assert not problems, "\n".join(problems)
