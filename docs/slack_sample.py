"""Render sample Slack messages of the webhook forwarder: Block Kit JSON and an HTML approximation.

    .venv/bin/python docs/slack_sample.py            # writes docs/img/slack-sample.html and .json
    chromium --headless --no-sandbox --hide-scrollbars --window-size=760,1420 \
        --screenshot=docs/img/slack-sample.png docs/img/slack-sample.html

The payloads are exactly what `slack_forwarder.blocks.render` posts; the HTML only imitates how Slack
draws headers, sections, fields, links, context and the attachment colour bar.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from job_auditor.slack_forwarder.blocks import render

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "docs" / "img"
_BASE: dict[str, Any] = {
    "version": "1",
    "transition": "status-changed",
    "account": "123456789012",
    "region": "us-east-1",
    "jobKind": "bedrock-model-import",
    "knowledgeBaseId": None,
    "creationTime": "2026-11-05T06:10:00Z",
    "observedTime": "2026-11-05T08:05:00Z",
    "failureMessage": None,
    "failureMessageTruncated": False,
    "jobsConsoleUrl": "https://us-east-1.console.aws.amazon.com/bedrock/home?region=us-east-1#/imported-models",
}
SAMPLES: list[dict[str, Any]] = [
    _BASE
    | {
        "eventId": "5b0e1c8e-53f4-5d0f-9b6f-0d2a0f3c4b11",
        "sequence": 2,
        "jobId": "arn:aws:bedrock:us-east-1:123456789012:model-import-job/k2pxq8r4w1zt",
        "jobArn": "arn:aws:bedrock:us-east-1:123456789012:model-import-job/k2pxq8r4w1zt",
        "consoleUrl": "https://us-east-1.console.aws.amazon.com/go/view?arn=arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-import-job%2Fk2pxq8r4w1zt",
        "jobName": "prod-mistral-7b-import",
        "previousStatus": "InProgress",
        "status": "Failed",
        "statusCategory": "FAILED",
        "endTime": "2026-11-05T08:02:34Z",
        "durationSeconds": 6754,
        "failureMessage": "ValidationException: config.json in s3://acme-models/mistral-7b/ is missing "
        "'architectures'; supported: LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM <see docs>",
    },
    _BASE
    | {
        "eventId": "09f6f1c6-c1d3-5c3a-b5ff-23e94444d7d2",
        "sequence": 2,
        "jobId": "arn:aws:bedrock:us-east-1:123456789012:model-import-job/a1b2c3d4e5f6",
        "jobArn": "arn:aws:bedrock:us-east-1:123456789012:model-import-job/a1b2c3d4e5f6",
        "consoleUrl": "https://us-east-1.console.aws.amazon.com/go/view?arn=arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-import-job%2Fa1b2c3d4e5f6",
        "jobName": "prod-llama-3-8b-import",
        "previousStatus": "InProgress",
        "status": "Completed",
        "statusCategory": "SUCCEEDED",
        "endTime": "2026-11-05T08:02:00Z",
        "durationSeconds": 6720,
    },
    _BASE
    | {
        "eventId": "a0a0a0a0-1111-5111-8111-222222222222",
        "transition": "stuck",
        "sequence": 3,
        "jobKind": "qconnect-import",
        "jobId": "f0e1d2c3-b4a5-4968-8776-655443322110",
        "jobArn": None,
        "jobName": None,
        "knowledgeBaseId": "11111111-2222-3333-4444-555555555555",
        "previousStatus": "START_IN_PROGRESS",
        "status": "START_IN_PROGRESS",
        "statusCategory": "IN_PROGRESS",
        "endTime": None,
        "creationTime": "2026-11-04T06:00:00Z",
        "durationSeconds": 93900,
        "stuckForSeconds": 93900,
        "consoleUrl": "https://us-east-1.console.aws.amazon.com/connect/home?region=us-east-1",
        "jobsConsoleUrl": "https://us-east-1.console.aws.amazon.com/connect/home?region=us-east-1",
    },
]

_EMOJI = {
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":hourglass_flowing_sand:": "⏳",
    ":wastebasket:": "🗑️",
    ":grey_question:": "❔",
    ":warning:": "⚠️",
    ":speech_balloon:": "💬",
    ":arrow_upper_right:": "↗️",
}


def _emoji(text: str) -> str:
    for code, char in _EMOJI.items():
        text = text.replace(code, char)
    return text


def mrkdwn(text: str) -> str:
    """Slack mrkdwn (already &-escaped by the renderer) to HTML, enough for these messages."""
    text = re.sub(r"<(https://[^|>]+)\|([^>]+)>", r'<a href="\1">\2</a>', text)
    text = re.sub(r"```(.*?)```", lambda m: f"<pre>{m.group(1)}</pre>", text, flags=re.S)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", text)
    return _emoji(text).replace("\n", "<br>")


def _plain(text: str) -> str:
    return _emoji(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def block_html(block: dict[str, Any]) -> str:
    kind = block["type"]
    if kind == "header":
        return f'<div class="header">{_plain(block["text"]["text"])}</div>'
    if kind == "context":
        return '<div class="context">' + " ".join(mrkdwn(e["text"]) for e in block["elements"]) + "</div>"
    if kind == "section":
        inner = ""
        if "text" in block:
            inner += f'<div class="text">{mrkdwn(block["text"]["text"])}</div>'
        if "fields" in block:
            inner += (
                '<div class="fields">'
                + "".join(f"<div>{mrkdwn(f['text'])}</div>" for f in block["fields"])
                + "</div>"
            )
        accessory = block.get("accessory")
        button = f'<a class="button">{_plain(accessory["text"]["text"])}</a>' if accessory else ""
        return f'<div class="section"><div class="body">{inner}</div>{button}</div>'
    return ""


def message_html(payload: dict[str, Any]) -> str:
    (attachment,) = payload["attachments"]
    blocks = "".join(block_html(b) for b in attachment["blocks"])
    return f"""
<div class="message">
  <div class="avatar">JA</div>
  <div class="main">
    <div class="who"><b>job-auditor</b> <span class="app">APP</span> <span class="time">8:05 AM</span></div>
    <div class="attachment" style="border-left-color:{attachment["color"]}">{blocks}</div>
  </div>
</div>"""


CSS = """
body { font-family: 'DejaVu Sans', Lato, Arial, sans-serif; font-size: 15px; color: #1d1c1d;
       background: #fff; margin: 0; padding: 12px 16px; width: 720px; }
.message { display: flex; gap: 10px; padding: 8px 0 14px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff;
          font-weight: bold; display: flex; align-items: center; justify-content: center; flex: none; }
.main { flex: 1; min-width: 0; }
.who { margin-bottom: 4px; } .time { color: #616061; font-size: 12px; }
.app { background: #e8e8e8; color: #616061; font-size: 10px; padding: 1px 3px; border-radius: 2px; }
.attachment { border-left: 4px solid; border-radius: 4px; padding: 2px 0 2px 12px; }
.header { font-size: 18px; font-weight: bold; margin: 6px 0 8px; }
.section { display: flex; gap: 12px; align-items: flex-start; margin: 6px 0; }
.section .body { flex: 1; min-width: 0; line-height: 1.45; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 2px; }
code { font-family: 'DejaVu Sans Mono', monospace; font-size: 12px; color: #c01343; background: #f6f6f6;
       border: 1px solid #e1e1e1; border-radius: 3px; padding: 1px 3px; word-break: break-all; }
pre { font-family: 'DejaVu Sans Mono', monospace; font-size: 12px; background: #f8f8f8;
      border: 1px solid #e1e1e1; border-radius: 4px; padding: 8px; white-space: pre-wrap; margin: 4px 0; }
.button { border: 1px solid #bbb; border-radius: 4px; padding: 4px 12px; font-weight: bold; font-size: 13px;
          white-space: nowrap; flex: none; }
a { color: #1264a3; text-decoration: none; }
.context { color: #616061; font-size: 12px; margin: 8px 0 2px; }
.context code { font-size: 11px; color: #616061; }
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    payloads = [render(detail) for detail in SAMPLES]
    (OUT / "slack-sample.json").write_text(json.dumps(payloads, indent=2, ensure_ascii=False) + "\n")
    body = "".join(message_html(p) for p in payloads)
    head = f'<head><meta charset="utf-8"><style>{CSS}</style></head>'
    html = f"<!doctype html><html>{head}<body>{body}</body></html>"
    (OUT / "slack-sample.html").write_text(html)


if __name__ == "__main__":
    main()
