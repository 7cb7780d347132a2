"""What a person sees in a terminal: each command run in tmux at 80 and 120 columns, on the state the
CLI's integration story leaves, compared with golden captures (tests/integration/golden_cli/). A
capture with a line wider than its terminal, or a word folded across two lines, fails before the
comparison.

Regenerate after an intended change, then read the diff:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/integration/test_cli_terminal.py
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from simulator.world import MotoServer, World
from tests.integration.cli_story import KINDS, tell
from tests.integration.conftest import START

GOLDEN = Path(__file__).parent / "golden_cli"
ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (80, 120)
COMMANDS = {
    "status": ["status"],
    "jobs": ["jobs"],
    "history": ["history", "llama-import"],
    "replay": ["replay", "--since", "1d", "--dry-run"],
    # Last: it audits. A run before the captures makes the three that follow alike (same windows).
    "run": ["run", "--once"],
}


class Terminal:
    """The CLI run at the story's time (tests.integration.cli_terminal), in tmux or through a pipe."""

    def __init__(self, world: World, workdir: Path) -> None:
        self.env = {**world.environment(), "PYTHONPATH": str(ROOT)}
        # Three minutes after the story's last run: ages read "3m ago".
        self.at = (world.now() + timedelta(minutes=3)).isoformat()
        self.workdir = workdir
        self.captures = 0
        (workdir / "tmux.conf").write_text("set -g remain-on-exit on\nset -g status off\n")

    def _command(self, args: list[str]) -> list[str]:
        return [sys.executable, "-m", "tests.integration.cli_terminal", self.at, *args]

    def piped(self, args: list[str]) -> str:
        """The output off a terminal: every column, nothing hidden."""
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | self.env
        result = subprocess.run(
            self._command(args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    def tmux(self, args: list[str], width: int) -> str:
        """What the screen of a `width`-column terminal shows once the command has ended (wrapped lines
        joined, so that a line wider than the terminal shows as one)."""
        # A server of its own per capture: a server being killed may still hold its socket.
        self.captures += 1
        script, rc = self.workdir / f"run-{self.captures}.sh", self.workdir / f"rc-{self.captures}"
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env.items())
        script.write_text(
            f"unset COLUMNS LINES\n{exports}{shlex.join(self._command(args))}\necho $? > {rc}\n"
        )
        tmux = [
            "tmux",
            "-L",
            f"job-auditor-{os.getpid()}-{self.captures}",
            "-f",
            str(self.workdir / "tmux.conf"),
        ]
        size = ["-x", str(width), "-y", "50"]
        subprocess.run(
            [*tmux, "new-session", "-d", "-s", "cli", *size, "-c", str(ROOT), f"sh {script}"], check=True
        )
        try:
            deadline = time.monotonic() + 90
            # The exit status from the script (tmux 3.3 may never report a dead pane's), and the pane
            # closed, so that tmux has read all the output.
            while not (rc.exists() and rc.read_text().strip() and _pane(tmux, "#{pane_dead}") == "1"):
                assert time.monotonic() < deadline, f"{args} did not end"
                time.sleep(0.1)
            status = rc.read_text().strip()
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-J", "-t", "cli", "-S", "-", "-E", "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            subprocess.run([*tmux, "kill-server"], check=False)
        assert status == "0", f"exit status {status!r}:\n{screen}"
        lines = [line.rstrip() for line in screen.splitlines() if not line.startswith("Pane is dead")]
        return "\n".join(lines).strip("\n") + "\n"


def _pane(tmux: list[str], form: str) -> str:
    shown = subprocess.run(
        [*tmux, "display-message", "-p", "-t", "cli", form], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, f"tmux: {shown.stderr}"
    return shown.stdout.strip()


def _table_words(capture: str) -> list[str]:
    """The words of a capture, less the note that names the hidden columns."""
    words: list[str] = []
    in_note = False
    for line in capture.splitlines():
        in_note = in_note or line.startswith("(hidden at")
        if not in_note:
            words.extend(line.split())
        in_note = in_note and not line.endswith("field)")
    return words


def folded_words(capture: str, reference: str) -> list[str]:
    """Words of `capture` that are not whole words of `reference` (the same output off a terminal),
    nor a short form of one (its first characters, or an ARN's last part): halves of folded words."""
    whole = set(reference.split())
    parts = {w.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for w in whole}
    return [
        word
        for word in _table_words(capture)
        if word not in whole
        and word not in parts
        and not any(w.startswith(word.removesuffix("…")) for w in whole)
    ]


@pytest.fixture(scope="module")
def captures(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each command's output: off a terminal, then in tmux at each width."""
    assert shutil.which("tmux"), "tmux is needed to capture what a terminal shows (apt-get install tmux)"
    with World(moto_server, START, env={"JOB_KINDS": KINDS}, tick=False, seed=7) as w:
        tell(w)
        terminal = Terminal(w, tmp_path_factory.mktemp("terminal"))
        out: dict[str, str] = {}
        for name, args in COMMANDS.items():
            if name == "run":
                terminal.piped(args)
            out[f"{name}-piped"] = terminal.piped(args)
            for width in WIDTHS:
                out[f"{name}-{width}"] = terminal.tmux(args, width)
        yield out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", COMMANDS)
def test_a_terminal_shows_each_command_whole_and_as_golden(
    captures: dict[str, str], name: str, width: int
) -> None:
    # Given the command's output in a terminal of that width, and off a terminal
    capture, reference = captures[f"{name}-{width}"], captures[f"{name}-piped"]
    # Then no line is wider than the terminal, and no word is folded
    assert all(len(line) <= width for line in capture.splitlines()), capture
    assert folded_words(capture, reference) == [], capture
    # And the screen is the golden one
    text = f"$ job-auditor {shlex.join(COMMANDS[name])}\n{capture}"
    path = GOLDEN / f"{name}-{width}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text()


def test_the_fold_check_finds_a_folded_word() -> None:
    # Given a table whose header and a kind were folded mid-word, as rich folds a too narrow column
    reference = "job kind               transitions\nbedrock-model-import             1\n"
    folded = "job kind     transitio\n             ns\nbedrock-mode        1\nl-import\n"
    # Then the halves are found, and whole words, id prefixes and ARN ends pass
    assert folded_words(folded, reference) == ["ns", "l-import"]
    arn = (
        "arn:aws:bedrock:us-east-1:123456789012:model-import-job/a1b2c3 4b71d76f-0000-4000-8000-000000000000"
    )
    assert folded_words("a1b2c3 4b71d76f", arn) == []
