"""Every ```python block of README.md and docs/*.md runs.

A page's blocks run in order in one namespace, as a reader would type them, in a fresh temporary
folder holding a fresh embedded workspace (``labledger.init()``). One test per block: the first
test of a page runs the whole page and records each block's outcome; a block after a failing one
is reported as not run.

A block that cannot run here (it needs a database server, a cluster, or a path on another
machine) is preceded by ``<!-- snippet: skip (reason) -->``; the reason is required.
"""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\S*)\s*$")
_SKIP = re.compile(r"^<!--\s*snippet:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->$")
_PYTHON_SPELLINGS = {"py", "python3", "pycon", "ipython", "Python"}


@dataclass(frozen=True)
class Block:
    page: Path
    index: int
    line: int  # 1-based line of the opening fence
    source: str
    skip: str | None  # the reason, when marked to be skipped

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}#{self.index}"


def blocks_of(page: Path) -> list[Block]:
    """The ```python blocks of a page, with their skip markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    number = 0
    while number < len(lines):
        fence = _FENCE.match(lines[number])
        if fence is None:
            number += 1
            continue
        end = next(i for i in range(number + 1, len(lines)) if lines[i].startswith("```"))
        if fence.group(1) == "python":
            previous = next((lines[i] for i in range(number - 1, -1, -1) if lines[i].strip()), "")
            marker = _SKIP.match(previous.strip())
            source = "\n".join(lines[number + 1 : end]) + "\n"
            found.append(
                Block(page, len(found), number + 1, source, marker and marker["reason"].strip())
            )
        number = end + 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks_of(page)]
_outcomes: dict[Path, list[str | None]] = {}


def _run_page(page: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str | None]:
    import labledger

    outcomes: list[str | None] = []
    folder = tmp_path_factory.mktemp(page.stem)
    previous = Path.cwd()
    os.chdir(folder)
    try:
        labledger.init()
        namespace: dict[str, object] = {"__name__": f"snippets_{page.stem}"}
        failed: str | None = None
        for block in blocks_of(page):
            if failed is not None:
                outcomes.append(f"not run: {failed} failed before it")
                continue
            if block.skip is not None:
                outcomes.append(None)
                continue
            try:
                code = compile(block.source, f"{block.id} (line {block.line})", "exec")
                exec(code, namespace)
            except BaseException:  # a block may raise anything; report it as this block's failure
                outcomes.append(traceback.format_exc(limit=-3))
                failed = block.id
            else:
                outcomes.append(None)
    finally:
        os.chdir(previous)
    return outcomes


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[block.id for block in ALL_BLOCKS])
def test_snippet_runs(block: Block, tmp_path_factory: pytest.TempPathFactory) -> None:
    if block.skip is not None:
        pytest.skip(f"marked in the page: {block.skip}")
    if block.page not in _outcomes:
        _outcomes[block.page] = _run_page(block.page, tmp_path_factory)
    problem = _outcomes[block.page][block.index]
    if problem is not None:
        pytest.fail(f"{block.id} (line {block.line}) does not run:\n{problem}", pytrace=False)


def test_every_python_block_is_collected() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        fences = len(re.findall(r"^```python\s*$", text, flags=re.MULTILINE))
        assert len(blocks_of(page)) == fences, page
        other = set(re.findall(r"^```(\S+)\s*$", text, flags=re.MULTILINE)) & _PYTHON_SPELLINGS
        assert not other, f"{page.name}: write ```python so the block is tested, not {other}"
    assert ALL_BLOCKS


def test_skip_markers_need_a_reason_and_a_block() -> None:
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if "snippet:" not in line:
                continue
            assert _SKIP.match(line.strip()), f"{page.name}:{number + 1}: malformed marker"
            following = next(x for x in lines[number + 1 :] if x.strip())
            assert following.startswith("```python"), f"{page.name}:{number + 1}: no block after"
