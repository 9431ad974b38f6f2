"""A participant's progress on the challenges, kept under the lab directory: the answers given to
``lab answer NN`` and how many hints ``lab hint NN`` has handed out.

It lives in ``<lab dir>/challenges/``, beside (not in) ``.lab/workshop``, which step 14 removes."""
from __future__ import annotations

from pathlib import Path

MAX_ANSWER = 500  # characters kept of an answer: a prediction is a word or a line


def _dir(workdir: Path, kind: str) -> Path:
    return workdir / "challenges" / kind


def save_answer(workdir: Path, step: str, text: str) -> str:
    """Store the answer (whitespace collapsed, cut to MAX_ANSWER); returns what was stored."""
    answer = " ".join(text.split())[:MAX_ANSWER]
    path = _dir(workdir, "answers") / f"{step}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(answer + "\n", encoding="utf-8")
    return answer


def answer(workdir: Path, step: str) -> str | None:
    """The stored answer of the step, None when there is none."""
    try:
        text = (_dir(workdir, "answers") / f"{step}.txt").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def forget_answer(workdir: Path, step: str) -> None:
    (_dir(workdir, "answers") / f"{step}.txt").unlink(missing_ok=True)


def hints_given(workdir: Path, step: str) -> int:
    try:
        text = (_dir(workdir, "hints") / step).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return 0
    return int(text) if text.isascii() and text.isdigit() else 0


def record_hint(workdir: Path, step: str, count: int) -> None:
    path = _dir(workdir, "hints") / step
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{count}\n", encoding="utf-8")
