"""The docs as a user reads them: every `alexandrie` command in README.md, docs/ and the plugins' and examples'
READMEs parses with the real command line (commands, options, arguments), every registry URL they name is
one the registry routes, and every relative link points at a file of the checkout."""

import re
import shlex
import warnings
from pathlib import Path

import click
import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from alexandrie.cli import main as cli
from alexandrie.cli.context import CliContext

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "plugins").glob("*/README.md"),
               *(ROOT / "examples").glob("*/README.md"), ROOT / "examples" / "README.md",
               ROOT / "benchmarks" / "README.md"])
SHELL_FENCES = ("sh", "bash", "shell", "console", "")
# Placeholders the docs write in a command, and a value of the same shape.
URL_PLACEHOLDERS = {r"\{[a-z_]+\}|<[a-z_]+>|:[a-z_]+\b|\bNAME\b|\bCRATE\b|\bVERSION\b|\bLOGIN\b": "x1"}
REGISTRY_HOSTS = r"https?://(?:127\.0\.0\.1:3000|localhost:3000|crates\.example\.com)"
REGISTRY_PATH = re.compile(r"^/(api|index|git|me|health|account|admin|crates|search|keywords|categories|users)\b")

pytestmark = pytest.mark.sqlite_only


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)


def _shell_lines(block: str) -> list[str]:
    """Logical lines of a shell block, continuations joined."""
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


COMMAND_START = re.compile(r"^(?:\$\s+)?(?:[A-Z_]+=\S*\s+)*(?:\S*/)?alexandrie(?:\s|$)")


def _alexandrie_argv(line: str) -> list[str] | None:
    """The arguments after `alexandrie` in a shell line (the first command of a pipeline or list), or None."""
    if not COMMAND_START.match(line):
        return None
    synopsis = re.sub(r"\[(-[^\]]*)\]", r"\1", line.removeprefix("$ "))  # `[--limit 20]`: an optional part
    lexer = shlex.shlex(synopsis, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for word in lexer:
        if set(word) <= set("|&;<>()"):
            break
        words.append(word)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VARIABLE=value before the command
        words = words[1:]
    argv = words[1:]
    return None if argv and argv[0].isupper() else argv  # `alexandrie NAME`: any command


def documented_commands() -> list[tuple[str, list[str], bool]]:
    """(where, argv, complete): shell blocks give complete commands, inline code a command's beginning."""
    found = []
    for path in DOCS:
        text = path.read_text()
        for fence, block in _fenced_blocks(text):
            if fence in SHELL_FENCES:
                found += [(_relative(path), argv, True) for line in _shell_lines(block)
                          if (argv := _alexandrie_argv(line)) is not None]
        prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
        found += [(_relative(path), argv, False) for span in re.findall(r"`(alexandrie [^`]+)`", prose)
                  if (argv := _alexandrie_argv(span)) is not None]
    return found


def documented_urls() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text()
        spans = re.findall(r"`(/[^` ]*)`", text)
        spans += [match for match in re.findall(REGISTRY_HOSTS + r"(/[^\s`)\"'<>]*)", text)]
        found += [(_relative(path), span) for span in spans if REGISTRY_PATH.match(span)]
    return found


def _unparsed(ctx: click.Context) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # click 9 folds protected_args into args
        return [*ctx.protected_args, *ctx.args]


def parse(argv: list[str], config: Path) -> None:
    """Parse argv as `alexandrie` would, down to the last subcommand, without running anything."""
    ctx = cli.make_context("alexandrie", ["--config", str(config), *argv], obj=CliContext(config_path=str(config)))
    while isinstance(ctx.command, click.Group) and _unparsed(ctx):
        name, command, rest = ctx.command.resolve_command(ctx, _unparsed(ctx))
        ctx = command.make_context(name, rest, parent=ctx)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("docs") / "alexandrie.toml"
    path.write_text("")
    return path


COMMANDS = documented_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) > 30


@pytest.mark.parametrize(("where", "argv", "complete"), COMMANDS,
                         ids=[f"{where}:{' '.join(argv)}" for where, argv, _ in COMMANDS])
def test_every_documented_command_parses(where, argv, complete, config):
    try:
        parse(argv, config)
    except click.exceptions.Exit:
        pass  # --help
    except click.MissingParameter:
        if complete:
            raise
    except click.BadParameter as exc:
        if "does not exist" not in exc.format_message():  # a placeholder like PATH names no real file
            raise
    except click.NoSuchCommand:
        if not where.startswith("examples/"):  # examples are installed by tests/test_example_plugins.py only
            raise
    except click.UsageError as exc:
        pytest.fail(f"{where}: `alexandrie {' '.join(argv)}`: {exc.format_message()}")


def test_every_documented_url_is_routed(make_app, tmp_path):
    app = make_app(load_entrypoints=True, index={"type": "git", "path": str(tmp_path / "git-index")})  # the git index serves /git/
    adapter = app.url_map.bind("localhost")
    rules = [rule.rule for rule in app.url_map.iter_rules()]
    unrouted = []
    for where, url in documented_urls():
        if "your-" in url:
            continue  # a path a reader's own plugin would serve
        path = url.split("?")[0].split("#")[0].removesuffix("...")  # `/account/...`: the family
        for pattern, value in URL_PLACEHOLDERS.items():
            path = re.sub(pattern, value, path)
        if not _is_routed(adapter, rules, path):
            unrouted.append(f"{where}: {url}")
    assert not unrouted


def _is_routed(adapter, rules: list[str], path: str) -> bool:
    """A path a route answers, or a prefix the docs name for a family of routes (`/api/`, `/git/index`)."""
    try:
        adapter.match(path, method="GET")
    except (MethodNotAllowed, RequestRedirect):
        return True
    except NotFound:
        prefix = path.rstrip("/") + "/"
        return any(rule.startswith(prefix) for rule in rules)
    return True


def test_every_relative_link_points_at_a_file():
    broken = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if re.match(r"[a-z]+:|#", target):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{_relative(path)}: {target}")
    assert not broken
