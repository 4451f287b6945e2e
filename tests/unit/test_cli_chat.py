"""``centwise chat`` with piped input, and the context figures in ``--json`` output."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from core.cli import main

SIM = '[providers.simulator]\nkind = "simulator"\nlatency_scale = 0\n[cache]\nenabled = false\n'


@pytest.fixture
def chat(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    cfg = tmp_path / "centwise.toml"
    cfg.write_text(SIM + "[context]\nmax_history_messages = 2\n")
    base = ["--data-dir", str(tmp_path / "data"), "--config", str(cfg)]

    def run(stdin: str, *args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main([*base, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_chat_streams_replies_and_keeps_one_conversation(chat) -> None:
    lines = (
        "What is WAL in sqlite?\n\nHow do checkpoints work?\nAnd busy timeouts?\n/exit\nignored\n"
    )
    code, out, err = chat(lines, "chat", "--model", "fast")
    assert code == 0
    (cid,) = re.findall(r"conversation (conv_\w+) \(new\)", err)
    summaries = [line for line in err.splitlines() if line.startswith("[fast")]
    assert len(summaries) == 3 and all("[context " in s for s in summaries)
    assert "window" in summaries[2] and "saved $" in summaries[2]
    assert "sqlite" in out and "checkpoints" in out and "timeouts" in out
    assert "ignored" not in out
    code, out, err = chat("", "chat", "--list")
    assert code == 0 and cid in out and "6 msgs" in out


def test_chat_resumes_a_conversation_and_json_has_context(chat) -> None:
    _, _, err = chat("Explain vacuum in postgres\n", "chat", "--model", "fast")
    (cid,) = re.findall(r"conversation (conv_\w+)", err)
    code, out, err = chat(
        "And autovacuum?\n/new\nSomething else\n",
        "chat",
        "--conversation",
        cid,
        "--json",
        "--model",
        "fast",
    )
    assert code == 0 and f"conversation {cid} (2 messages)" in err
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["conversation_id"] == cid and second["conversation_id"] != cid
    ctx = first["context"]
    assert set(ctx) == {"tokens_before", "tokens_after", "saved_usd", "actions"}
    assert ctx["tokens_before"] == ctx["tokens_after"] == first["usage"]["input_tokens"]
    assert isinstance(ctx["saved_usd"], str) and ctx["actions"] == []


def test_chat_with_an_unknown_conversation_is_a_usage_error(chat) -> None:
    code, _, err = chat("hi\n", "chat", "--conversation", "conv_nope")
    assert code == 2 and "no conversation 'conv_nope'" in err
