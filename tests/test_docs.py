"""The documentation promises only what is there: the README's length, links that lead to files,
paths that exist, and commands whose subcommands and options the command line really has.

Checked pages: ``README.md``, ``ARCHITECTURE.md`` (links only, when it exists) and
``docs/**/*.md``. Commands are read from the README's fenced ``sh`` blocks and its inline code
(the commands table included), and from the code of ``docs/models/*.md``; each
``antiphon SUB [SUBSUB] ...`` is held against ``python -m daemon SUB [SUBSUB] --help``, each
``python -m benchmarks ...`` against ``python -m benchmarks --help``. Every ``--help`` runs once.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
ARCHITECTURE = REPO_ROOT / "ARCHITECTURE.md"
MODEL_CARDS = REPO_ROOT / "docs" / "models"
MAX_README_LINES = 250

# Programs a README shell block may use that are not Antiphon's own.
EXTERNAL_PROGRAMS = frozenset({"pip", ".venv/bin/pip", "cp", "jackd", "pytest"})
EXTERNAL_PYTHON_MODULES = frozenset({"venv", "pip", "pytest"})

# Backticked paths under these folders must exist.
REPO_PATH_RE = re.compile(r"^(?:daemon|training|export|benchmarks|tests|presets|docs)/[\w./*{},-]*$")
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})


def _pages() -> list[Path]:
    pages = [README]
    if ARCHITECTURE.exists():
        pages.append(ARCHITECTURE)
    pages += sorted((REPO_ROOT / "docs").rglob("*.md"))
    return pages


def _model_cards() -> list[Path]:
    return sorted(MODEL_CARDS.glob("*.md"))


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


# --- reading Markdown -----------------------------------------------------------------------


@dataclass(frozen=True)
class Markdown:
    """A page split into fenced code blocks and the prose around them (code blocks blanked)."""

    path: Path
    blocks: tuple[tuple[str, str], ...]  # (language, text)
    prose: str

    @classmethod
    def read(cls, path: Path) -> Markdown:
        blocks: list[tuple[str, str]] = []
        prose: list[str] = []
        fence: str | None = None
        language = ""
        body: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.lstrip()
            if fence is None and stripped.startswith(("```", "~~~")):
                fence, language, body = stripped[:3], stripped[3:].strip().split(" ")[0].lower(), []
                prose.append("")
            elif fence is not None and stripped.startswith(fence):
                blocks.append((language, "\n".join(body)))
                fence = None
                prose.append("")
            elif fence is not None:
                body.append(line)
                prose.append("")
            else:
                prose.append(line)
        return cls(path, tuple(blocks), "\n".join(prose))

    def inline_code(self) -> list[str]:
        """Every inline code span, its line breaks read as spaces (a span never crosses a blank line)."""
        spans = re.findall(r"(`+)((?:(?!\n[ \t]*\n).)+?)\1", self.prose, re.DOTALL)
        return [" ".join(text.split()) for _, text in spans]

    def prose_without_code(self) -> str:
        return re.sub(r"(`+)(?:(?!\n[ \t]*\n).)+?\1", "code", self.prose, flags=re.DOTALL)

    def headings(self) -> list[str]:
        return [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", self.prose, re.MULTILINE)]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Markdown) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in page.headings():
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


LINK_RE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_RE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)


def relative_links(page: Markdown) -> list[str]:
    text = page.prose_without_code()
    targets = [m.group(1) for m in LINK_RE.finditer(text)] + REFERENCE_RE.findall(text)
    return [t for t in targets if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", t)]


def broken_links(page: Markdown) -> list[str]:
    problems = []
    for target in relative_links(page):
        location, _, anchor = target.partition("#")
        path = (page.path.parent / urllib.parse.unquote(location)).resolve() if location else page.path
        where = f"{_rel(page.path)}: link {target!r}"
        if not path.exists():
            problems.append(f"{where}: {path} does not exist")
            continue
        if location.endswith("/") and not path.is_dir():
            problems.append(f"{where}: {path} is not a folder")
        if anchor and path.suffix == ".md" and anchor not in anchors(Markdown.read(path)):
            problems.append(f"{where}: no heading #{anchor} in {_rel(path)}")
    return problems


def missing_paths(page: Markdown) -> list[str]:
    """Backticked paths into the repository (``daemon/music/``, ``presets/*.toml``) that do not exist."""
    code = page.inline_code() + [text for _, text in page.blocks]
    problems = []
    for token in itertools.chain.from_iterable(text.split() for text in code):
        token = token.strip("\"'(),;:")
        if not REPO_PATH_RE.match(token):
            continue
        if any(c in token for c in "*{"):
            patterns = _brace_expand(token)
            if not any(list(REPO_ROOT.glob(p)) for p in patterns):
                problems.append(f"{_rel(page.path)}: `{token}` matches nothing")
        elif not (REPO_ROOT / token).exists():
            problems.append(f"{_rel(page.path)}: `{token}` does not exist")
    return problems


def _brace_expand(pattern: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    return [p for choice in match.group(1).split(",")
            for p in _brace_expand(pattern[:match.start()] + choice + pattern[match.end():])]


# --- commands ---------------------------------------------------------------------------------


def shell_commands(script: str) -> Iterator[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped, split at && || ; |."""
    logical: list[str] = []
    pending = ""
    for line in script.splitlines():
        pending += line
        if pending.rstrip().endswith("\\"):
            pending = pending.rstrip()[:-1] + " "
        elif re.search(r"(&&|\|\||\|)\s*$", pending):
            pending += " "
        else:
            logical.append(pending)
            pending = ""
    if pending:
        logical.append(pending)
    for line in logical:
        yield from split_command_list(shlex.split(line, comments=True))


def split_command_list(tokens: Sequence[str]) -> Iterator[list[str]]:
    current: list[str] = []
    for token in tokens:
        if token in ("&&", "||", ";", "|", "&"):
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


def expand_alternatives(tokens: Sequence[str]) -> list[list[str]]:
    """``train data / lstm / eval`` -> ``train data``, ``train lstm``, ``train eval``."""
    slots: list[list[str]] = []
    joining = False
    for token in tokens:
        if token == "/" and slots:
            joining = True
        elif joining:
            slots[-1].append(token)
            joining = False
        else:
            slots.append([token])
    return [list(choice) for choice in itertools.product(*slots)]


def clean(tokens: Sequence[str]) -> list[str]:
    """Drop the brackets of optional parts and the ellipses of repeated ones."""
    cleaned = [t.strip("[]") for t in tokens]
    return [t for t in cleaned if t and t != "..."]


COMMAND_PREFIXES = ("antiphon ", "python -m ", "bash tests/run")


def is_option(token: str) -> bool:
    return token.startswith("-") and len(token) > 1 and not re.match(r"^-\d", token)


@dataclass
class HelpCache:
    """``--help`` of each command, run once per command line, two at a time."""

    outputs: dict[tuple[str, ...], subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def _run(self, argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "100"}
        return subprocess.run([sys.executable, "-m", *argv, "--help"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=120, env=env, check=False)

    def prefetch(self, argvs: Iterable[tuple[str, ...]]) -> None:
        todo = sorted({a for a in argvs if a not in self.outputs})
        with ThreadPoolExecutor(max_workers=2) as pool:
            for argv, done in zip(todo, pool.map(self._run, todo)):
                self.outputs[argv] = done

    def get(self, argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        if argv not in self.outputs:
            self.outputs[argv] = self._run(argv)
        return self.outputs[argv]


def subcommands(help_text: str) -> set[str]:
    """The subcommands an argparse help lists (four spaces deep under "positional arguments")."""
    match = re.search(r"^positional arguments:\n(.*?)(?=^\S|\Z)", help_text, re.MULTILINE | re.DOTALL)
    return set(re.findall(r"^ {4}(\S+)", match.group(1), re.MULTILINE)) if match else set()


def _option_in(option: str, help_text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text) is not None


def _choices(option: str, help_text: str) -> tuple[set[str], bool] | None:
    """The choices an option's usage shows (``--mode {a,b}``), and whether it takes several."""
    match = re.search(rf"(?<![\w-]){re.escape(option)} \{{([^}}]*)\}}( \[\{{[^}}]*\}} \.\.\.\])?", help_text)
    return (set(match.group(1).split(",")), bool(match.group(2))) if match else None


def check_options(tokens: Sequence[str], help_text: str, shown: str) -> list[str]:
    """Every option of ``tokens`` is in ``help_text``; values of options with choices are choices."""
    problems = []
    for i, token in enumerate(tokens):
        if not is_option(token):
            continue
        option, has_value, value = token.partition("=")
        if not _option_in(option, help_text):
            problems.append(f"{shown}: {option} is not an option ({' '.join(tokens)})")
            continue
        choices = _choices(option, help_text)
        if choices is None:
            continue
        allowed, several = choices
        values = [value] if has_value else list(itertools.takewhile(lambda t: not is_option(t), tokens[i + 1:]))
        for given in values if several else values[:1]:
            for one in given.split("|"):
                if not one.isupper() and one not in allowed:
                    problems.append(f"{shown}: {option} {one!r} is not one of {sorted(allowed)}")
    return problems


@dataclass
class CommandChecker:
    helps: HelpCache = field(default_factory=HelpCache)

    def _help(self, argv: tuple[str, ...], problems: list[str]) -> str | None:
        done = self.helps.get(argv)
        if done.returncode != 0:
            problems.append(f"python -m {' '.join(argv)} --help exited {done.returncode}: "
                            f"{done.stderr.strip()[-400:]}")
            return None
        return done.stdout

    def prefetch(self, commands: Iterable[list[str]]) -> None:
        """Run the --help of every command line the checks will need, level by level."""
        commands = [c for c in commands if c]
        self.helps.prefetch([("daemon",)] + [self._module(c)[:1] for c in commands if self._module(c)])
        top = self.helps.get(("daemon",)).stdout
        firsts = {self._antiphon_sub(c, top) for c in commands}
        self.helps.prefetch([("daemon", s) for s in firsts if s])
        nested = set()
        for command in commands:
            sub = self._antiphon_sub(command, top)
            words = [t for t in self._antiphon_args(command) or [] if not is_option(t)]
            if sub and len(words) > 1 and words[1] in subcommands(self.helps.get(("daemon", sub)).stdout):
                nested.add(("daemon", sub, words[1]))
        self.helps.prefetch(nested)

    @staticmethod
    def _antiphon_args(command: Sequence[str]) -> list[str] | None:
        program = command[0]
        if program == "antiphon" or program.endswith("/antiphon"):
            return list(command[1:])
        if program in ("python", "python3") and command[1:3] == ["-m", "daemon"]:
            return list(command[3:])
        return None

    @staticmethod
    def _module(command: Sequence[str]) -> tuple[str, ...]:
        is_python_module = command[0] in ("python", "python3") and len(command) > 2 and command[1] == "-m"
        if is_python_module and command[2] not in ("daemon", *EXTERNAL_PYTHON_MODULES):
            return (command[2],)
        return ()

    def _antiphon_sub(self, command: Sequence[str], top_help: str) -> str | None:
        args = self._antiphon_args(command)
        if args is None:
            return None
        words = [t for t in args if not is_option(t)]
        return words[0] if words and words[0] in subcommands(top_help) else None

    def check(self, command: Sequence[str], shown: str) -> list[str]:
        """What is wrong with one command line (nothing: an empty list)."""
        problems: list[str] = []
        command = clean(command)
        if not command:
            return problems
        args = self._antiphon_args(command)
        if args is not None:
            return self._check_antiphon(args, shown)
        module = self._module(command)
        if module:
            help_text = self._help(module, problems)
            if help_text is not None:
                problems += check_options(command[3:], help_text, shown)
            return problems
        if command[0] == "bash":
            if len(command) < 2 or not (REPO_ROOT / command[1]).is_file():
                problems.append(f"{shown}: no script {command[1:2]}")
            return problems
        python_module = command[0] in ("python", "python3") and command[1:2] == ["-m"]
        if command[0] in EXTERNAL_PROGRAMS or (python_module and command[2:3] and
                                               command[2] in EXTERNAL_PYTHON_MODULES):
            return problems
        return [f"{shown}: {command[0]!r} is not a command this project knows ({' '.join(command)})"]

    def _check_antiphon(self, args: list[str], shown: str) -> list[str]:
        problems: list[str] = []
        top = self._help(("daemon",), problems)
        if top is None:
            return problems
        leading = list(itertools.takewhile(is_option, args))
        if check_options(leading, top, shown):  # `antiphon --preset X` runs: `run` is the default command
            run_help = self._help(("daemon", "run"), problems)
            return problems if run_help is None else problems + check_options(args, run_help, shown)
        rest = args[len(leading):]
        if not rest:
            return problems
        sub = rest[0]
        if sub not in subcommands(top):
            return problems + [f"{shown}: antiphon has no subcommand {sub!r} (it has {sorted(subcommands(top))})"]
        path: tuple[str, ...] = ("daemon", sub)
        help_text = self._help(path, problems)
        if help_text is None:
            return problems
        rest = rest[1:]
        nested = subcommands(help_text)
        if nested:
            if not rest or rest[0] not in nested:
                return problems + [f"{shown}: antiphon {sub} needs one of {sorted(nested)}, got {rest[:1]}"]
            path = (*path, rest[0])
            help_text = self._help(path, problems)
            if help_text is None:
                return problems
            rest = rest[1:]
        return problems + check_options(rest, help_text, shown)


def _commands_in_code(text: str) -> list[list[str]]:
    """Commands of an inline code span (``a / b`` alternatives expanded)."""
    if not text.startswith(COMMAND_PREFIXES):
        return []
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    return [alt for cmd in split_command_list(tokens) for alt in expand_alternatives(cmd)]


def documented_commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every command the README and the model cards show."""
    found: list[tuple[str, list[str]]] = []
    readme = Markdown.read(README)
    for language, text in readme.blocks:
        if language in SHELL_LANGUAGES:
            found += [("README.md sh block", cmd) for cmd in shell_commands(text)]
    for span in readme.inline_code():
        found += [("README.md", cmd) for cmd in _commands_in_code(span)]
    for card in _model_cards():
        page = Markdown.read(card)
        where = _rel(card)
        for _, text in page.blocks:
            found += [(f"{where} code block", cmd) for cmd in shell_commands(text) if cmd and
                      (cmd[0] == "antiphon" or cmd[:3] == ["python", "-m", "benchmarks"])]
        for span in page.inline_code():
            if span.startswith("gan-eval "):  # shorthand for `antiphon train gan-eval ...`
                span = "antiphon train " + span
            found += [(where, cmd) for cmd in _commands_in_code(span)]
    return found


# --- the tests --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checker() -> CommandChecker:
    checker = CommandChecker()
    checker.prefetch(clean(cmd) for _, cmd in documented_commands())
    return checker


def test_readme_is_at_most_250_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; model detail belongs in docs/models/"


def test_readme_starts_with_the_two_setup_commands() -> None:
    first_block = next(text for language, text in Markdown.read(README).blocks if language in SHELL_LANGUAGES)
    commands = [" ".join(c) for c in shell_commands(first_block)]
    assert commands[:4] == ["python3 -m venv .venv", ".venv/bin/pip install .", ".venv/bin/antiphon run",
                            "bash tests/run"]


def test_every_bundled_model_has_a_card_linked_from_the_index() -> None:
    index = Markdown.read(MODEL_CARDS / "README.md")
    linked = {(MODEL_CARDS / t.partition("#")[0]).resolve() for t in relative_links(index)}
    for model in sorted((REPO_ROOT / "presets").glob("*.onnx")):
        # A phrase VAE is two files; its encoder (NAME.encoder.onnx) is on the card of its decoder NAME.onnx.
        encoder = model.name.endswith(".encoder.onnx")
        decoder = model.with_name(model.name.removesuffix(".encoder.onnx") + ".onnx") if encoder else model
        assert decoder.is_file(), f"{model.name} is an encoder without its decoder {decoder.name}"
        card = MODEL_CARDS / f"{decoder.stem}.md"
        assert card.is_file(), f"{model.name} has no card {_rel(card)}"
        assert card.resolve() in linked, f"docs/models/README.md does not link {card.name}"


@pytest.mark.parametrize("page", _pages(), ids=_rel)
def test_relative_links_lead_to_files_that_exist(page: Path) -> None:
    assert broken_links(Markdown.read(page)) == []


@pytest.mark.parametrize("page", [README, *_model_cards()], ids=_rel)
def test_backticked_repository_paths_exist(page: Path) -> None:
    assert missing_paths(Markdown.read(page)) == []


def test_documented_commands_have_the_subcommands_and_options_they_use(checker: CommandChecker) -> None:
    commands = documented_commands()
    assert len(commands) > 20, "the README and the model cards show commands; the reader found few"
    problems = [p for where, cmd in commands for p in checker.check(cmd, where)]
    assert problems == []


@pytest.mark.parametrize(("command", "wrong"), [
    ("antiphon train gan --data data/ --critic-onset", "--critic-onset"),
    ("antiphon export gan runs/x.pt --restart-floors drums=8 -o x.onnx", "--restart-floors"),
    ("antiphon trian data --out data/", "trian"),
    ("antiphon train gan-evaluate --bars 10", "gan-evaluate"),
    ("antiphon run --midi-api jackd", "jackd"),
    ("python -m benchmarks --only gan_sped", "gan_sped"),
    ("python -m benchmarks --gan-models x.onnx", "--gan-models"),
    ("antiphon -x run", "-x"),
    ("antiphon --preset default --no-such-thing", "--no-such-thing"),
])
def test_the_command_check_catches_a_wrong_name(checker: CommandChecker, command: str, wrong: str) -> None:
    problems = checker.check(shlex.split(command), "example")
    assert problems and wrong in problems[0]


@pytest.mark.parametrize("right", [
    "antiphon train gan-eval --checkpoint x.pt --weights trained --restart-floor drums=8 --chain 0",
    "antiphon -v train lstm --data data/ --transpose=-5,6 --out runs/x",
    "antiphon --preset chorale --mode both",
    "python -m benchmarks --only footprint timing",
])
def test_the_command_check_passes_a_right_command(checker: CommandChecker, right: str) -> None:
    assert checker.check(shlex.split(right), "example") == []
