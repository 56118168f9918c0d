"""The documentation (README.md and docs/*.md) stays true to the code, without a server.

- docs/configuration.md lists every field of `Settings` (nested models too) with its
  environment variable, type and default as the class has them, and nothing the class lacks;
- every `python` block parses and every `json` block is JSON; `bash` blocks are not run, but
  the `distaff` commands in them (and in inline code) must parse with the real CLI;
- the README's quick start runs in-process against the bundled example graphs;
- every relative link reaches a file, and a heading when it names one;
- every `DISTAFF_*` variable named is a setting, or one the reference lists as read elsewhere.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
import click
import httpx
import langgraph_sdk
import pytest
from langgraph_sdk.client import LangGraphClient
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from distaff import cli
from distaff.settings import Settings

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
REFERENCE = DOCS / "configuration.md"
PREFIX = "DISTAFF_"

# --- reading Markdown -------------------------------------------------------------------------

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.lang})"


def blocks(page: Path) -> Iterator[Block]:
    text = page.read_text()
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield Block(page, line, match.group(1), match.group(2))


def all_blocks(lang: str) -> list[Block]:
    return [b for page in PAGES for b in blocks(page) if b.lang == lang]


def prose(page: Path) -> str:
    """The page without its code blocks (each replaced by blank lines, so line numbers hold)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), page.read_text())


def without_inline_code(text: str) -> str:
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose(page), re.MULTILINE):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def table_rows(page: Path, header: list[str]) -> list[list[str]]:
    """The rows of every table of `page` whose header is `header`, as lists of cells."""
    rows: list[list[str]] = []
    inside = False
    for line in prose(page).splitlines():
        if not line.startswith("|"):
            inside = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells == header:
            inside = True
        elif inside and not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    return rows


# --- the configuration reference --------------------------------------------------------------

COLUMNS = ["setting", "env variable", "type", "default", "meaning"]


@dataclass(frozen=True)
class Field:
    name: str  # dotted: http.disable_mcp
    info: FieldInfo

    @property
    def env(self) -> str:
        top, _, rest = self.name.partition(".")
        variable = f"`{PREFIX}{top.upper()}`"
        return f"{variable} (key `{rest}`)" if rest else variable


def nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def fields(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[Field]:
    for name, info in model.model_fields.items():
        yield Field(prefix + name, info)
        if (inner := nested_model(info.annotation)) is not None:
            yield from fields(inner, f"{prefix}{name}.")


def number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def type_text(annotation: Any) -> str:
    """How the reference writes a type, without its constraints and without `None`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return "any"
    if origin is Literal:  # JSON's spelling: "text", true
        return " or ".join(str(a).lower() if isinstance(a, bool) else f'"{a}"' for a in args)
    if nested_model(annotation) is not None:
        return "object"
    if annotation is Path:
        return "path"
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(type_text(a) for a in args)}]"
    assert isinstance(annotation, type), annotation
    return annotation.__name__


def field_type(info: FieldInfo) -> str:
    annotation = info.annotation
    members = typing.get_args(annotation)
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and (
        type(None) in members
    )
    # Several members besides None are written one after the other: `list[str]` or `true`.
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        text = " or ".join(type_text(m) for m in members if m is not type(None))
    else:
        text = type_text(annotation)
    for bound in info.metadata:
        if isinstance(bound, annotated_types.Gt):
            text += f" > {number(bound.gt)}"
        elif isinstance(bound, annotated_types.Ge):
            text += f" ≥ {number(bound.ge)}"
    return text + (" or None" if optional else "")


def field_default(info: FieldInfo) -> str:
    """The start of the default cell: the class's default, as the reference writes it."""
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "`{}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"`{number(value)}`"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def reference() -> dict[str, list[str]]:
    rows = table_rows(REFERENCE, COLUMNS)
    documented: dict[str, list[str]] = {}
    for row in rows:
        assert len(row) == len(COLUMNS), f"a reference row with {len(row)} cells: {row}"
        name = row[0].strip("`")
        assert name not in documented, f"{name} is documented twice"
        documented[name] = row
    return documented


def test_the_reference_lists_every_setting_and_nothing_else() -> None:
    expected = {f.name for f in fields()}
    documented = set(reference())
    assert not expected - documented, f"settings missing from {REFERENCE.name}"
    assert not documented - expected, "documented settings that do not exist"


@pytest.mark.parametrize("field", list(fields()), ids=lambda f: f.name)
def test_each_setting_shows_its_variable_type_and_default(field: Field) -> None:
    row = reference().get(field.name)
    if row is None:
        pytest.fail(f"{field.name} is not in {REFERENCE.name}")
    _, env, kind, default, meaning = row
    assert env == field.env
    assert kind.replace("`", "") == field_type(field.info)
    expected = field_default(field.info)
    assert default == expected or default.startswith(f"{expected} "), (default, expected)
    assert meaning, f"{field.name} says nothing about what it does"


def other_variables() -> set[str]:
    rows = table_rows(REFERENCE, ["variable", "meaning"])
    return {v for row in rows for v in re.findall(rf"`({PREFIX}[A-Z0-9_]+)`", row[0])}


def test_other_variables_the_reference_lists_are_read_by_distaff() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "distaff").rglob("*.py"))
    listed = other_variables()
    assert listed
    for variable in listed:
        assert f'"{variable}"' in source, f"{variable} is listed but distaff never reads it"


def test_every_distaff_variable_named_is_a_setting_or_listed() -> None:
    known = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields} | other_variables()
    for page in PAGES:
        for variable in re.findall(rf"\b{PREFIX}[A-Z0-9_]*[A-Z0-9]\b", page.read_text()):
            assert variable in known, f"{page.relative_to(ROOT)} names {variable}"


# --- code blocks ------------------------------------------------------------------------------


@pytest.mark.parametrize("block", all_blocks("python"), ids=str)
def test_python_blocks_parse(block: Block) -> None:
    # As in `python -m asyncio`: the snippets await at top level.
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        compile(block.code, str(block), "exec", flags=flags)
    except SyntaxError as exc:
        pytest.fail(f"{block}: {exc}")


@pytest.mark.parametrize("block", all_blocks("json"), ids=str)
def test_json_blocks_are_json(block: Block) -> None:
    try:
        json.loads(block.code)
    except json.JSONDecodeError as exc:
        pytest.fail(f"{block}: {exc}")


def test_the_code_blocks_are_found() -> None:
    assert len(all_blocks("python")) >= 10
    assert len(all_blocks("json")) >= 5
    assert len(all_blocks("bash")) >= 5


# --- the command line -------------------------------------------------------------------------


def command_lines(code: str) -> Iterator[list[str]]:
    """The arguments of each `distaff` command in a shell snippet (after `distaff`)."""
    for line in code.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        segment: list[str] = []
        for token in [*lexer, ";"]:
            if token not in ("&&", "||", ";", "|", "&"):
                segment.append(token)
                continue
            while segment and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", segment[0]):
                segment.pop(0)  # VAR=value before the command
            if segment and Path(segment[0]).name == "distaff":
                yield segment[1:]
            segment = []


def parse_command(args: list[str]) -> None:
    """Parse `distaff <args>` with the real CLI (options checked, nothing run)."""
    group = cli.main
    with click.Context(group, info_name="distaff") as parent:
        assert args and not args[0].startswith("-"), args
        command = group.get_command(parent, args[0])
        assert command is not None, f"no command distaff {args[0]}"
        command.make_context(args[0], list(args[1:]), parent=parent)


def shell_commands() -> list[tuple[str, list[str]]]:
    found = []
    for block in [*all_blocks("bash"), *all_blocks("sh")]:
        for args in command_lines(block.code):
            found.append((f"{block}: distaff {' '.join(args)}", args))
    return found


@pytest.mark.parametrize(("where", "args"), shell_commands(), ids=[w for w, _ in shell_commands()])
def test_distaff_commands_in_shell_blocks_parse(where: str, args: list[str]) -> None:
    try:
        parse_command(args)
    except click.ClickException as exc:
        pytest.fail(f"{where}: {exc.format_message()}")


def test_inline_distaff_commands_name_real_commands_and_options() -> None:
    checked = 0
    for page in PAGES:
        for words in re.findall(r"`distaff ((?:--?)?[a-z][a-z-]*)([^`]*)`", prose(page)):
            name, rest = words
            where = f"{page.relative_to(ROOT)}: distaff {name}{rest}"
            command: click.Command = cli.main
            if not name.startswith("-"):
                with click.Context(cli.main) as ctx:
                    found = cli.main.get_command(ctx, name)
                assert found is not None, where
                command = found
            else:
                rest = f"{name} {rest}"
            options = {"--help"} | {
                opt for p in command.params for opt in (*p.opts, *p.secondary_opts)
            }
            for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest):
                assert option in options, f"{where}: no option {option}"
                checked += 1
    assert checked >= 5


def test_the_readme_starts_with_the_two_commands_ci_runs() -> None:
    first = next(blocks(README))
    assert first.line == 3 and first.lang == "bash"
    install, test = first.code.splitlines()
    args = next(command_lines(install))
    parse_command(args)
    assert (ROOT / args[args.index("--config") + 1]).is_file()
    # `.ci/run` runs exactly the second line, as `scripts/test`, from the repository root.
    assert test == "scripts/test"
    assert (ROOT / test).is_file()
    assert "exec scripts/test" in (ROOT / ".ci" / "run").read_text()


# --- the quick start --------------------------------------------------------------------------


def quickstart() -> str:
    text = README.read_text()
    match = re.search(r"<!-- quickstart -->\n```python\n(.*?)```\n<!-- /quickstart -->", text, re.S)
    assert match, "README.md marks no quick start"
    return match.group(1)


async def test_the_readme_quickstart_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import distaff

    module = ast.parse(quickstart())
    *body, last = module.body
    # It ends by running main(); here main() runs inside the app's lifespan instead.
    assert ast.unparse(last) == "asyncio.run(main())"
    namespace: dict[str, Any] = {"__name__": "quickstart"}
    monkeypatch.setattr(sys, "path", list(sys.path))  # the manifest's dependencies join it
    app = distaff.from_langgraph_json(
        ROOT / "examples" / "echo" / "langgraph.json", Settings(database_url="memory://")
    )
    state: dict[str, Any] = {}

    async def with_state(scope: Any, receive: Any, send: Any) -> None:
        scope["state"] = dict(state)  # as a server passes the lifespan's state on
        await app(scope, receive, send)

    def get_client(*, url: str, **kwargs: Any) -> LangGraphClient:
        # The quick start talks to the server the README's first line starts.
        assert url == "http://127.0.0.1:2024" and not kwargs
        transport = httpx.ASGITransport(app=with_state)
        return LangGraphClient(httpx.AsyncClient(transport=transport, base_url=url))

    monkeypatch.setattr(langgraph_sdk, "get_client", get_client)
    exec(compile(ast.Module(body=body, type_ignores=[]), "quickstart.py", "exec"), namespace)
    async with app.router.lifespan_context(app) as lifespan_state:
        state.update(lifespan_state or {})
        await namespace["main"]()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "You said: hi"
    assert "'question': 'approve?'" in printed[1]
    assert printed[2] == "You said: please approve (approved: yes)"


# --- links ------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def relative_links() -> list[tuple[str, Path, str]]:
    found = []
    for page in PAGES:
        for target in LINK.findall(without_inline_code(prose(page))):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            found.append((f"{page.relative_to(ROOT)} -> {target}", page, target))
    return found


@pytest.mark.parametrize(
    ("where", "page", "target"), relative_links(), ids=[w for w, _, _ in relative_links()]
)
def test_relative_links_reach_a_file_and_heading(where: str, page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    assert file.exists(), f"{where}: no such file"
    if anchor and file.suffix == ".md":
        assert anchor in anchors(file), f"{where}: no heading #{anchor} in {file.name}"


def test_links_are_found_and_every_page_is_linked_from_the_readme() -> None:
    assert len(relative_links()) >= 30
    linked = {
        (README.parent / t.partition("#")[0]).resolve()
        for _, p, t in relative_links()
        if p == README
    }
    for page in DOCS.glob("*.md"):
        assert page.resolve() in linked, f"README.md does not link {page.name}"


def test_the_readme_is_a_front_page() -> None:
    assert len(README.read_text().splitlines()) <= 150
