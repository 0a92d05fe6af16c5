"""The ``mdm`` command line: init, load, restandardise, match, model, show, evaluate, export, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from mdm.errors import MdmError
from mdm.logs import configure_logging
from mdm.settings import Settings

app = typer.Typer(
    help="mdm-hub: customer identity, record linkage, golden records, crosswalk.", no_args_is_help=True
)
console = Console(stderr=False)
errors = Console(stderr=True)


class _State:
    settings: Settings


state = _State()


@app.callback()
def main() -> None:
    """Read the settings from the environment and set up logging."""
    state.settings = Settings.from_env()
    configure_logging(state.settings.log_level, state.settings.log_format)


def _engine() -> Engine:
    from mdm.storage.database import make_engine, upgrade

    engine = make_engine(state.settings.database_url)
    upgrade(engine)
    return engine


def _mappings_dir() -> Path:
    if state.settings.mappings_dir is not None:
        return state.settings.mappings_dir
    from mdm.sample import sample_mappings_dir

    return sample_mappings_dir()


def _fail(error: MdmError) -> typer.Exit:
    errors.print(f"[bold red]error[/] [{error.code}] {error}")
    return typer.Exit(code=2)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
    )


@app.command()
def init() -> None:
    """Create or migrate the database schema."""
    _engine()
    console.print("database is up to date")


@app.command()
def load(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV, JSON Lines or Parquet file")
    ],
    system: Annotated[str, typer.Option(help="source system whose mapping applies")],
    mode: Annotated[
        str, typer.Option(help="delta, or snapshot to retire records absent from the file")
    ] = "delta",
    allow_retire: Annotated[bool, typer.Option(help="let a snapshot retire more than 5% of records")] = False,
) -> None:
    """Load one file of one source system; bad rows go to a rejects file, the rest load."""
    from mdm.loading import load_file
    from mdm.mappings import mapping_for, read_mappings

    if mode not in ("delta", "snapshot"):
        raise typer.BadParameter("mode must be delta or snapshot", param_hint="--mode")
    try:
        mapping = mapping_for(read_mappings(_mappings_dir()), system)
        engine = _engine()
        report = load_file(
            engine, file, mapping, mode=mode, allow_retire=allow_retire,  # type: ignore[arg-type]
            rejects_dir=state.settings.work_dir / "rejects",
        )  # fmt: skip
    except MdmError as error:
        raise _fail(error) from error

    console.print(
        f"{report.system}: {report.rows_read} rows read, {report.inserted} new, {report.changed} changed, "
        f"{report.unchanged} unchanged, {report.stale} older versions kept, {report.retired} retired, "
        f"{report.rejected} rejected"
    )
    for source_id, rows in sorted(report.duplicate_source_ids.items()):
        console.print(
            f"  source id {source_id!r} repeated on rows {', '.join(map(str, rows))}: the last row wins"
        )
    for rejection in report.rejections[:20]:
        console.print(f"  rejected: {rejection.reason} [{rejection.code}, field {rejection.field}]")
    if report.rejected > 20:
        console.print(f"  ... and {report.rejected - 20} more")
    if report.rejects_file:
        console.print(f"  rejected rows written to {report.rejects_file}")


@app.command()
def restandardise() -> None:
    """Rebuild every standardised field from the stored canonical fields."""
    from mdm.standardised import restandardise as rebuild

    count = rebuild(_engine())
    console.print(f"{count} records standardised")
