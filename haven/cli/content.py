"""``haven content …``: the gettext catalogs and the Korean lint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from haven.content import catalog, locale_dir

app = typer.Typer(no_args_is_help=True, help="The gettext catalogs.")


@app.command("compile")
def content_compile() -> None:
    """Compile the .po catalogs into .mo files."""
    for path in catalog.compile_all():
        typer.echo(str(path))


@app.command("check")
def content_check() -> None:
    """Missing, empty, fuzzy or placeholder-mismatched translations."""
    problems = catalog.check()
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("catalogs complete")


@app.command("languages")
def content_languages() -> None:
    """The table of languages and their native review, as the README shows it."""
    typer.echo(catalog.language_table())


@app.command("extract")
def content_extract(
    out: Annotated[Path, typer.Option(help="Template to write.")] = locale_dir() / "haven.pot",
) -> None:
    """Write the message template (.pot) from the code and the flow files."""
    catalog.write_template(out)
    typer.echo(str(out))


@app.command("lint")
def content_lint(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="A translator's own .po or text files to check instead of the shipped texts.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
) -> None:
    """Catalog problems, and Korean that a North Korean reader would notice: each finding names
    the file or text, the message, the word, the North Korean form and the source. Advice (a
    word the North also uses) is shown but does not fail."""
    from haven.content.lint import lint, lint_files

    findings = lint_files(files) if files else lint()
    for finding in findings:
        typer.echo(str(finding), err=True)
    errors = [f for f in findings if f.error]
    if errors:
        typer.echo(f"{len(errors)} findings", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"content lint: no findings ({len(findings)} advice)"
        if findings
        else "content lint: no findings"
    )
