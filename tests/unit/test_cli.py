"""The ``centwise`` command: JSON shape, batches, spend, export and exit codes."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from core.cache.verifier import load_model
from core.cli import main

SIM = '[providers.simulator]\nkind = "simulator"\nlatency_scale = 0\n'


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    cfg = tmp_path / "centwise.toml"
    cfg.write_text(SIM)
    data = tmp_path / "data"

    def run(*args: str, config: Path | None = cfg) -> tuple[int, str, str]:
        argv = ["--data-dir", str(data)]
        if config is not None:
            argv += ["--config", str(config)]
        code = main([*argv, *args])
        out, err = capsys.readouterr()
        return code, out, err

    run.tmp = tmp_path  # type: ignore[attr-defined]
    run.data = data  # type: ignore[attr-defined]
    return run


def test_ask_json_has_every_documented_field(cli):
    code, out, _ = cli("ask", "What is a semantic cache?", "--json")
    assert code == 0
    obj = json.loads(out)
    for key in (
        "request_id",
        "provider",
        "model",
        "tier",
        "simulated",
        "status",
        "error",
        "text",
        "cost_usd",
        "saved_usd",
        "latency_ms",
        "ttft_ms",
    ):
        assert key in obj
    assert set(obj["route"]) >= {"score", "reasons"}
    assert set(obj["cache"]) == {"outcome", "similarity", "matched_request_id"}
    assert set(obj["usage"]) == {
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "reasoning_tokens",
        "estimated_input_tokens",
        "estimated",
    }
    assert set(obj["prompt_cache"]) >= {"saved_usd", "lost_usd"}
    assert obj["cache"]["outcome"] == "miss" and obj["simulated"] is True
    assert isinstance(obj["cost_usd"], str) and Decimal(obj["cost_usd"]) > 0


def test_plain_ask_streams_text_and_summarises_on_stderr(cli):
    code, out, err = cli("ask", "Name three sorting algorithms", "--model", "fast")
    assert code == 0 and len(out.strip()) > 20
    assert "fast" in err and "gpt-4.1-nano" in err and "$" in err


def test_batch_runs_in_order_one_object_per_line(cli):
    batch = cli.tmp / "b.jsonl"
    lines = [{"prompt": f"question {i} about rust"} for i in range(4)]
    lines[2]["model"] = "premium"
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    code, out, _ = cli("ask", "--batch", str(batch), "--json")
    assert code == 0
    objs = [json.loads(x) for x in out.splitlines()]
    assert [o["prompt"] for o in objs] == [x["prompt"] for x in lines]
    assert objs[2]["tier"] == "premium" and objs[2]["route"]["mode"] == "explicit"


def test_batch_with_a_bad_line_names_it_and_runs_nothing(cli):
    batch = cli.tmp / "b.jsonl"
    batch.write_text('{"prompt": "ok"}\n{"prompt": 3}\n')
    code, out, err = cli("ask", "--batch", str(batch), "--json")
    assert code == 2 and "line 2" in err and out == ""
    code, out, _ = cli("spend", "--json")
    assert json.loads(out)["totals"]["requests"] == 0


def test_non_utf8_batch_file_is_a_clear_error(cli):
    batch = cli.tmp / "b.jsonl"
    batch.write_bytes(b'{"prompt": "caf\xe9"}\n')
    code, _, err = cli("ask", "--batch", str(batch))
    assert code == 2 and "not UTF-8" in err and "Traceback" not in err


def test_empty_prompt_exits_2_and_is_recorded(cli):
    code, out, err = cli("ask", "", "--json")
    assert code == 2
    assert json.loads(out)["status"] == "rejected"
    assert "empty" in err or "empty" in json.loads(out)["error"]


def test_budget_refusal_exits_3(cli):
    cfg = cli.tmp / "tight.toml"
    cfg.write_text(SIM + "[budget]\ndaily_usd = 0.00000001\n")
    code, out, _ = cli("ask", "hello", "--json", config=cfg)
    assert code == 3
    obj = json.loads(out)
    assert obj["status"] == "refused" and "daily budget" in obj["error"]


def test_malformed_config_exits_2_naming_file_and_key(cli):
    cfg = cli.tmp / "bad.toml"
    cfg.write_text('[budget]\ndaily_usd = "lots"\ncolour = "red"\n')
    code, _, err = cli("ask", "hi", config=cfg)
    assert code == 2 and "bad.toml" in err and "budget.daily_usd" in err
    assert "budget.colour: unknown key" in err and "Traceback" not in err


def test_spend_reports_totals_by_tier_and_model(cli):
    cli("ask", "first", "--model", "fast")
    cli("ask", "second", "--model", "premium")
    code, out, _ = cli("spend", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["totals"]["requests"] == 2
    assert {g["key"] for g in obj["by_tier"]} == {"fast", "premium"}
    total = sum(Decimal(g["cost_usd"]) for g in obj["by_model"])
    assert total == Decimal(obj["totals"]["cost_usd"]) > 0
    assert "month_projected_usd" in obj["forecast"]
    code, out, _ = cli("spend")
    assert code == 0 and "By tier" in out


def test_export_csv_and_jsonl(cli):
    cli("ask", "export me", "--model", "fast")
    out_file = cli.tmp / "x.csv"
    code, _, _ = cli("export", "--format", "csv", "--out", str(out_file))
    assert code == 0
    with out_file.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]["prompt"] == "export me" and rows[0]["tier"] == "fast"
    code, out, _ = cli("export", "--format", "jsonl")
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == 1 and rows[0]["prompt"] == "export me"


def test_corrupt_ledger_is_a_clear_error_and_kept(cli):
    cli.data.mkdir(parents=True)
    db = cli.data / "ledger.sqlite"
    db.write_bytes(b"this is not a database at all" * 100)
    before = db.read_bytes()
    code, _, err = cli("ask", "hi")
    assert code == 2 and "ledger" in err and "Traceback" not in err
    assert db.read_bytes() == before
    code, _, err = cli("--recover", "ask", "hi")
    assert code == 0
    kept = [
        p
        for p in cli.data.iterdir()
        if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))
    ]
    assert len(kept) == 1 and kept[0].read_bytes() == before


def test_prices_import_reports_changes_and_rejects_bad_files(cli):
    good = cli.tmp / "new.json"
    good.write_text(
        json.dumps(
            {
                "gpt-4.1": {
                    "input_cost_per_token": 3e-06,
                    "output_cost_per_token": 8e-06,
                    "litellm_provider": "openai",
                    "mode": "chat",
                },
                "brand-new-model": {
                    "input_cost_per_token": 1e-06,
                    "output_cost_per_token": 2e-06,
                    "litellm_provider": "openai",
                    "mode": "chat",
                },
            }
        )
    )
    code, out, _ = cli("prices", "import", str(good))
    assert code == 0 and "brand-new-model" in out and "gpt-4.1" in out
    code, out, _ = cli("prices", "show", "gpt-4.1")
    assert "0.000003" in out
    bad = cli.tmp / "bad.json"
    bad.write_text('{"gpt-4.1": {"input_cost_per_token": "cheap"}}')
    code, _, err = cli("prices", "import", str(bad))
    assert code == 2 and "bad.json" in err and "input_cost_per_token" in err
    code, out, _ = cli("prices", "show", "gpt-4.1")
    assert "0.000003" in out  # the good import is still in force


def test_cache_commands(cli):
    code, _, _ = cli("ask", "How do I reverse a list in Python?", "--model", "fast")
    code, out, _ = cli("ask", "how do I reverse a list in python", "--json")
    assert json.loads(out)["cache"]["outcome"] in ("exact", "semantic")
    code, out, _ = cli("cache", "stats", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["entries"] == 1 and stats["hits"] == 1
    assert Decimal(stats["saved_usd"]) > 0
    code, out, _ = cli("cache", "search", "reverse a list", "--json")
    assert json.loads(out)["results"][0]["prompt"] == "How do I reverse a list in Python?"
    pairs = cli.tmp / "pairs.jsonl"
    pairs.write_text(
        '{"a": "Convert 100 USD to EUR", "b": "Convert 100 EUR to USD", "same": false}\n'
        '{"a": "How do I boil an egg?", "b": "How should I boil an egg?", "same": true}\n'
    )
    code, out, _ = cli("cache", "tune", str(pairs), "--json")
    report = json.loads(out)
    assert code == 0 and report["scale"] == "verifier"
    chosen = report["chosen_threshold"]
    assert [t for t in report["thresholds"] if t["threshold"] == chosen]
    code, out, _ = cli("cache", "tune", str(pairs))
    assert code == 0 and f"current settings serve at {chosen:.3f}" in out
    bad = cli.tmp / "bad.jsonl"
    bad.write_text('{"a": "x", "b": "y"}\n')
    code, _, err = cli("cache", "tune", str(bad))
    assert (code == 2 and "line 1" in err.lower()) or ":1:" in err
    code, out, _ = cli("cache", "clear")
    assert code == 0 and "removed 1" in out


def test_train_verifier_writes_a_model_the_cache_can_load(cli):
    pairs = cli.tmp / "train.jsonl"
    rows = [
        ("How do I boil an egg?", "How should I boil an egg?", True, "s1"),
        ("Convert 100 USD to EUR", "Convert 100 EUR to USD", False, "s1"),
        ("Why is the sky blue?", "What makes the sky look blue?", True, "s2"),
        ("How long do cats live?", "How long do dogs live?", False, "s2"),
    ]
    pairs.write_text(
        "".join(
            json.dumps({"a": a, "b": b, "same": same, "source": src}) + "\n"
            for a, b, same, src in rows
        )
    )
    out_path = cli.tmp / "model.json"
    code, out, _ = cli("cache", "train-verifier", str(pairs), "--out", str(out_path))
    assert code == 0 and "trained on 4 pairs (2 same) from 2 sources" in out
    model = load_model(out_path)
    assert model.trained_on["sources"] == ["s1", "s2"] and len(model.members) == 5
    code, _, err = cli(
        "cache", "train-verifier", str(pairs), "--source", "s1", "--out", str(out_path)
    )
    assert code == 2 and "two sources" in err


def test_ask_takes_sampling_settings(cli):
    code, out, _ = cli("ask", "Explain what a ledger is.", "--model", "fast", "--json")
    text = json.loads(out)["text"]
    stop = text.split()[4]
    code, out, _ = cli(
        "ask", "Explain what a ledger is.", "--model", "fast", "--json",
        "--stop", stop, "--top-p", "0.5", "--seed", "1",
    )  # fmt: skip
    cut = json.loads(out)
    assert code == 0 and cut["status"] == "ok" and stop not in cut["text"]
    assert text.startswith(cut["text"]) and cut["cache"]["outcome"] == "miss"
    code, _, err = cli("ask", "hi", "--top-p", "2")
    assert code == 2 and "--top-p must be from 0 to 1" in err


def test_batch_lines_take_sampling_settings(cli):
    batch = cli.tmp / "s.jsonl"
    batch.write_text(
        json.dumps({"prompt": "Explain what a ledger is.", "model": "fast"})
        + "\n"
        + json.dumps({"prompt": "Explain what a ledger is.", "model": "fast", "stop": "ledger"})
        + "\n"
    )
    code, out, _ = cli("ask", "--batch", str(batch), "--json")
    plain, cut = (json.loads(line) for line in out.splitlines())
    assert code == 0 and "ledger" in plain["text"] and "ledger" not in cut["text"]
    batch.write_text(json.dumps({"prompt": "hi", "seed": "x"}) + "\n")
    code, _, err = cli("ask", "--batch", str(batch))
    assert code == 2 and 'batch line 1: "seed" must be an integer' in err


def test_ask_for_json_output(cli):
    schema = cli.tmp / "entry.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}}))
    code, out, _ = cli("ask", "Count to three.", "--json-schema", str(schema), "--json")
    assert code == 0 and json.loads(json.loads(out)["text"]) == {"n": 0}
    code, out, _ = cli("ask", "Count to three.", "--json-object", "--json")
    assert code == 0 and "answer" in json.loads(json.loads(out)["text"])
    schema.write_text("[1, 2]")
    code, _, err = cli("ask", "hi", "--json-schema", str(schema))
    assert code == 2 and "must be a JSON Schema object" in err
    schema.write_text(json.dumps({"type": "object", "properties": {"n": {"type": 7}}}))
    code, _, err = cli("ask", "hi", "--json-schema", str(schema))
    assert code == 2 and "entry.json['properties']['n']['type']: not a valid JSON Schema" in err


WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def _png(path: Path, size: tuple[int, int]) -> Path:
    from PIL import Image

    Image.new("RGB", size, "green").save(path)
    return path


def test_ask_with_tools_prints_the_call_and_records_it(cli):
    tools = cli.tmp / "tools.json"
    tools.write_text(json.dumps(WEATHER_TOOLS))
    code, out, _ = cli("ask", "What is the weather in Lisbon?", "--tools", str(tools))
    assert code == 0 and 'get_weather({"city": "Lisbon"})' in out
    code, out, _ = cli("ask", "Weather in Lisbon?", "--tools", str(tools), "--json")
    obj = json.loads(out)
    assert obj["finish_reason"] == "tool_calls" and obj["tool_calls"][0]["name"] == "get_weather"
    assert obj["request"]["tools"][0]["name"] == "get_weather"
    code, out, _ = cli(
        "ask", "Tell me a joke.", "--tools", str(tools), "--tool-choice", "get_weather", "--json"
    )
    assert code == 0 and json.loads(out)["tool_calls"][0]["name"] == "get_weather"
    code, _, err = cli("ask", "hi", "--tools", str(tools), "--tool-choice", "other")
    assert code == 2 and "not one of the request's tools" in err
    tools.write_text(json.dumps([{"type": "function", "function": {"name": "bad name"}}]))
    code, _, err = cli("ask", "hi", "--tools", str(tools))
    assert code == 2 and "tools.json: tools[0].function.name" in err


def test_ask_with_images_counts_their_tokens(cli):
    image = _png(cli.tmp / "green.png", (512, 512))
    code, out, _ = cli("ask", "What colour?", "--image", str(image), "--json")
    obj = json.loads(out)
    (described,) = obj["request"]["images"]
    assert code == 0 and described["width"] == 512 and described["tokens"] > 0
    plain = json.loads(cli("ask", "What colour, in words?", "--json")[1])
    assert obj["usage"]["input_tokens"] > plain["usage"]["input_tokens"] + described["tokens"] - 5
    bad = cli.tmp / "bad.png"
    bad.write_bytes(b"GIF89a but not really")
    code, _, err = cli("ask", "x", "--image", str(bad))
    assert code == 2 and "bad.png: cannot be decoded as an image" in err
    code, _, err = cli("ask", "x", "--image", str(cli.tmp / "missing.png"))
    assert code == 2 and "missing.png: cannot be read" in err


def test_batch_lines_carry_tools_schemas_and_images(cli):
    image = _png(cli.tmp / "i.png", (64, 64))
    batch = cli.tmp / "batch.jsonl"
    lines = [
        {"prompt": "Weather in Oslo?", "tools": WEATHER_TOOLS},
        {
            "prompt": "Count.",
            "json_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
        {"prompt": "Describe it.", "images": [str(image)]},
        {"prompt": "Plain."},
    ]
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    code, out, _ = cli("ask", "--batch", str(batch), "--json")
    tool, schema, img, plain = (json.loads(line) for line in out.splitlines())
    assert code == 0 and tool["tool_calls"][0]["arguments"] == '{"city": "Oslo"}'
    assert json.loads(schema["text"]) == {"n": 0} and img["request"]["images"][0]["width"] == 64
    assert plain["request"] == {} and plain["tool_calls"] == []
    batch.write_text(json.dumps({"prompt": "x", "tools": [{"type": "function"}]}) + "\n")
    code, _, err = cli("ask", "--batch", str(batch))
    assert code == 2 and "batch line 1: tools[0].name: a tool needs a name" in err
    batch.write_text(json.dumps({"prompt": "x", "images": "one.png"}) + "\n")
    code, _, err = cli("ask", "--batch", str(batch))
    assert code == 2 and '"images" must be a list of file paths' in err
