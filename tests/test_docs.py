"""The documentation says what the code does: a short front page, and reference pages held to the source.

The README is a front page; the reference lives in docs/. What can be checked against the code is
checked here, so a setting, tool, error kind, package or module added in one place and forgotten in
the other fails the suite, as does a link or a path that leads nowhere.
"""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path

import pytest

from agent_mcp.core.config import OPTIONS, Option, Settings
from agent_mcp.core.errors import AgentMCPError
from agent_mcp.core.models import ErrorKind
from agent_mcp.server.tools import TOOLS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "agent_mcp"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
FRONT_PAGE_BYTES = 12 * 1024
LOG_LEVEL = ("--log-level", "AGENT_MCP_LOG_LEVEL")
"""Set in cli.py beside OPTIONS: the logging is configured before the settings are read."""
UNITS = {"": 1, "KiB": 1024, "MiB": 1024 * 1024}


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def section(page: Path, heading: str) -> str:
    """The text under a `## heading`, up to the next heading of that level."""
    parts = re.split(rf"^## {re.escape(heading)}\n", text(page), maxsplit=1, flags=re.MULTILINE)
    assert len(parts) == 2, f"{page.name} has no '## {heading}'"
    return re.split(r"^## ", parts[1], maxsplit=1, flags=re.MULTILINE)[0]


def table_rows(page: Path, heading: str) -> list[list[str]]:
    """The cells of the first table under the heading, without its header and rule."""
    lines = [line for line in section(page, heading).splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))] for line in lines[2:]]


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def plain(cell: str) -> str:
    return cell.replace("`", "")


def fenced_blocks(markdown: str, language: str) -> list[str]:
    """The fenced blocks of that language ("" for none), each fence paired with the one that closes it."""
    pairs = re.findall(r"^```(\w*)\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)
    return [body for info, body in pairs if info == language]


def without_code(markdown: str) -> str:
    """The text outside fenced blocks (a `#` comment in a shell block is no heading)."""
    return re.sub(r"^```.*?^```$", "", markdown, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_is_a_front_page():
    size = len(README.read_bytes())
    assert size <= FRONT_PAGE_BYTES, f"README.md is {size} bytes; the reference belongs in docs/"


def test_the_readme_marks_the_test_command_that_ci_runs():
    """.ci/run takes the first line of the ```sh block after the marker and runs it."""
    found = re.search(r"<!-- test-command: .*?-->\n```sh\n(.+)\n```", text(README))
    assert found, "README.md lost its test-command marker or the ```sh block after it"
    assert ".venv/bin/pytest" in found.group(1)


# Configuration: docs/configuration.md holds one row per option.


def documented_options() -> dict[tuple[str, str], list[str]]:
    rows: dict[tuple[str, str], list[str]] = {}
    for cells in table_rows(DOCS / "configuration.md", "Options"):
        [flag], [variable] = code_spans(cells[0]), code_spans(cells[1])
        assert (flag, variable) not in rows, f"{flag} is listed twice"
        rows[flag, variable] = cells
    return rows


def help_and_default(option: Option) -> tuple[str, str]:
    """The option's help without its "(default: …)", and that default (else the Settings value)."""
    found = re.search(r" \(default: (.+)\)$", option.help)
    if found:
        return option.help[: found.start()], found.group(1)
    value = getattr(Settings(), option.attr)
    return option.help, "none" if value is None else str(value)


def test_the_configuration_page_lists_every_option_and_nothing_else():
    expected = {(option.flag, option.env) for option in OPTIONS} | {LOG_LEVEL}
    assert set(documented_options()) == expected


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.flag)
def test_each_option_s_default_and_meaning_are_the_code_s(option: Option):
    _, _, default, meaning = documented_options()[option.flag, option.env]
    code_help, code_default = help_and_default(option)
    assert plain(default) == code_default, f"{option.flag}: the default is {code_default!r} in the code"
    assert plain(meaning).startswith(code_help), f"{option.flag}: the meaning must begin with its help: {code_help}"


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.flag)
def test_each_default_that_is_a_value_is_the_value_the_server_takes(option: Option):
    """The help's "(default: 4 MiB)" and the page are text; Settings is what the server runs with."""
    value = getattr(Settings(), option.attr)
    _, default = help_and_default(option)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return  # a path, a list or nothing: its default is a description
    if isinstance(value, str):
        assert default == value
        return
    found = re.fullmatch(r"([\d.]+) ?(KiB|MiB|)", default)
    assert found, f"{option.flag}: the default {default!r} is not a number"
    assert float(found.group(1)) * UNITS[found.group(2)] == value


# Architecture and modules: docs/architecture.md names each package, docs/development.md each module.


def packages() -> set[str]:
    """Every directory of the package that holds Python (agents/ counts as the parent of agents/claude/)."""
    return {
        str(directory.relative_to(PACKAGE))
        for directory in PACKAGE.rglob("*")
        if directory.is_dir() and directory.name != "__pycache__" and any(directory.rglob("*.py"))
    }


def top_modules() -> set[str]:
    return {path.stem for path in PACKAGE.glob("*.py") if path.name not in ("__init__.py", "__main__.py")}


def test_the_architecture_page_names_every_package_and_nothing_else():
    listed = [code_spans(cells[0])[0] for cells in table_rows(DOCS / "architecture.md", "The packages")]
    assert len(listed) == len(set(listed)), "a package is listed twice"
    assert set(listed) == packages() | top_modules()


@pytest.mark.parametrize("language", ["mermaid", ""])
def test_the_architecture_pictures_show_every_package(language: str):
    """The picture GitHub draws, and the same in text: the first block of each under "The packages"."""
    picture = fenced_blocks(section(DOCS / "architecture.md", "The packages"), language)[0]
    missing = {name for name in packages() | top_modules() if name not in picture}
    assert not missing, f"the {language or 'text'} picture lacks {sorted(missing)}"


def test_the_module_table_matches_the_package():
    listed = {code_spans(cells[0])[0] for cells in table_rows(DOCS / "development.md", "Modules")}
    modules = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    assert not modules - listed, f"add a row to docs/development.md for {sorted(modules - listed)}"
    assert not listed - modules, f"docs/development.md lists modules that are gone: {sorted(listed - modules)}"


# Tools and errors.


def tool_names(cell: str) -> set[str]:
    return {re.sub(r"\W.*", "", span, flags=re.DOTALL) for span in code_spans(cell)}


@pytest.mark.parametrize("page", [README, DOCS / "tools.md"], ids=lambda page: page.name)
def test_the_tool_tables_name_every_tool_and_nothing_else(page: Path):
    listed = [name for cells in table_rows(page, "Tools") for name in tool_names(cells[0])]
    assert sorted(listed) == sorted(tool.__name__ for tool, _ in TOOLS)


@pytest.mark.parametrize("tool", [tool for tool, _ in TOOLS], ids=lambda tool: tool.__name__)
def test_the_tools_page_names_every_argument(tool):
    [row] = [cells[0] for cells in table_rows(DOCS / "tools.md", "Tools") if tool.__name__ in tool_names(cells[0])]
    arguments = [name for name in inspect.signature(tool).parameters if name != "ctx"]
    missing = [name for name in arguments if not re.search(rf"\b{name}\b", row)]
    assert not missing, f"docs/tools.md: {tool.__name__} lacks {missing}"


def refusal_kinds(kind: type[AgentMCPError] = AgentMCPError) -> set[str]:
    return {kind.kind}.union(*(refusal_kinds(sub) for sub in kind.__subclasses__()))


def test_the_errors_page_names_every_error_kind():
    page = text(DOCS / "errors.md")
    kinds = set(typing.get_args(ErrorKind)) | refusal_kinds()
    missing = {kind for kind in kinds if not re.search(rf"`\[?{kind}\]? ?`", page)}
    assert not missing, f"docs/errors.md does not name {sorted(missing)}"


# Links and paths.


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(heading) for heading in re.findall(r"^#+ (.+)$", without_code(text(page)), flags=re.MULTILINE)}


def links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", without_code(text(page)))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(page: Path):
    broken = []
    for link in links(page):
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        heading_missing = bool(anchor) and path.suffix == ".md" and path.exists() and anchor not in anchors(path)
        if not path.exists() or heading_missing:
            broken.append(link)
    assert not broken, f"{page.name} links to what is not there: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_path_named_in_the_docs_exists(page: Path):
    spans = code_spans(without_code(text(page)))
    named = [span for span in spans if re.fullmatch(r"(tests|src|bench|docs|\.ci)/[\w./-]+", span)]
    missing = [path for path in named if not (ROOT / path).exists()]
    assert not missing, f"{page.name} names paths that are not there: {missing}"
