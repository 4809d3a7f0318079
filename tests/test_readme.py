"""The README says what the code does: its option table and its module table match the source."""

from __future__ import annotations

import re
from pathlib import Path

from agent_mcp.core.config import OPTIONS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def table_rows(heading: str) -> list[list[str]]:
    """The cells of the first table under the heading, without its header and rule."""
    section = README.split(f"\n## {heading}\n", 1)[1]
    rows = [line for line in section.split("\n\n## ", 1)[0].splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_the_option_table_names_every_option_with_its_variable_and_nothing_else():
    documented = set()
    for cells in table_rows("Options"):
        flags, variables = code_spans(cells[0]), code_spans(cells[1])
        assert len(flags) == len(variables), cells
        documented.update(zip(flags, variables, strict=True))
    expected = {(option.flag, option.env) for option in OPTIONS} | {("--log-level", "AGENT_MCP_LOG_LEVEL")}
    assert documented == expected


def test_the_module_table_matches_the_package():
    listed = {code_spans(cells[0])[0] for cells in table_rows("Development")}
    package = ROOT / "src" / "agent_mcp"
    modules = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    assert listed == modules
