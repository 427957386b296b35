"""``haven case …``: read a case (the read is audited)."""

from __future__ import annotations

import typer

from haven import crypto
from haven.content.readings import code_phrase_reading
from haven.flows import State, default_engine
from haven.services.cases import Cases
from haven.services.caseview import CaseView

from .common import opened_store, passphrase, run, settings

app = typer.Typer(no_args_is_help=True, help="Cases (reads are audited).")


@app.command("show")
@run
async def case_show(reference: str) -> None:
    """Decrypt and print a case (needs the passphrase; the read is audited)."""
    cfg = settings()
    keyring = crypto.unlock(cfg.keys_dir, passphrase(cfg))
    async with opened_store(cfg) as store:
        view = await Cases(store).read(reference, keyring, actor="cli")
    typer.echo(case_text(view))


def case_text(view: CaseView) -> str:
    """A decrypted case as terminal text: its facts, the questionnaire, the messages."""
    engine = default_engine()
    out = [
        f"Case {view.reference}  state: {view.state}"
        + (f" ({view.close_reason})" if view.close_reason else ""),
        f"language: {view.lang}  channel: {view.channel}  campaign: {view.campaign or '-'}",
        f"group size: {view.group_size if view.group_size is not None else '-'}  "
        f"wounded: {'-' if view.wounded is None else ('yes' if view.wounded else 'no')}  "
        f"flags: {', '.join(sorted(view.flags)) or '-'}",
        f"created: {view.created_at:%Y-%m-%d %H:%M} UTC  submitted: "
        + (f"{view.submitted_at:%Y-%m-%d %H:%M} UTC" if view.submitted_at else "-"),
    ]
    if view.code_phrase:
        aid = code_phrase_reading(view.lang, view.code_phrase)
        out.append(f"code phrase: {view.code_phrase}  (Cyrillic: {aid})")
    if view.answers:
        state = State(
            flow=engine.flow.id,
            version=engine.flow.version,
            lang=view.answers.get("lang"),
            answers=view.answers.get("answers", {}),
        )
        out += ["", engine.summary_text(state)]
    for message in view.messages:
        content = message.content.get("text") or message.content
        out.append(f"[{message.at:%Y-%m-%d %H:%M}] {message.direction}: {content}")
    return "\n".join(out)
