"""The ``mdm`` command line: init, load, match, model, show, serve, keys, evaluate, export, demo and more."""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from mdm.errors import MdmError
from mdm.logs import configure_logging
from mdm.settings import Settings

if TYPE_CHECKING:
    from matching.profile import MatchProfile
    from mdm.accuracy import HubAccuracy
    from mdm.bulk import MatchOutcome
    from mdm.lookup import CustomerView

app = typer.Typer(
    help="mdm-hub: customer identity, record linkage, golden records, crosswalk.", no_args_is_help=True
)
console = Console(stderr=False, soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


class _State:
    settings: Settings
    context: typer.Context


state = _State()
P = ParamSpec("P")


@app.callback()
def main(context: typer.Context) -> None:
    """Read the settings from the environment and set up logging."""
    state.settings = Settings.from_env()
    state.context = context
    configure_logging(state.settings.log_level, state.settings.log_format)


def _engine(**options: Any) -> Engine:
    """The hub's database, migrated; its connections close when the command ends.

    ``options`` go to SQLAlchemy's ``create_engine``, e.g. the size of the connection pool.
    """
    from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError

    from mdm.errors import DatabaseUnavailableError
    from mdm.storage.database import make_engine, upgrade

    url = state.settings.database_url
    try:
        engine = make_engine(url, **options)
        state.context.call_on_close(engine.dispose)
        upgrade(engine)
    except (ArgumentError, DatabaseError, NoSuchModuleError, ImportError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise DatabaseUnavailableError(f"cannot use the database at MDM_DATABASE_URL: {reason}") from error
    return engine


def _mappings_dir() -> Path:
    from mdm.mappings import configured_mappings_dir

    return configured_mappings_dir(state.settings.mappings_dir)


def _reports_errors(command: Callable[P, None]) -> Callable[P, None]:
    """Turn the hub's own errors into one line with their code and exit status 2, never a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        from matching.errors import MatchingError

        try:
            command(*args, **kwargs)
        except (MdmError, MatchingError) as error:
            errors.print(f"[bold red]error[/] {escape(f'[{error.code}] {error}')}")
            raise typer.Exit(code=2) from error

    return run


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
    )


@app.command()
@_reports_errors
def init() -> None:
    """Create or migrate the database schema."""
    _engine()
    console.print("the database schema is created and at the newest revision")


@app.command()
@_reports_errors
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
    """Load one file of one source system; bad rows go to a rejects file, the rest load.

    A field that its mapping sets missing when invalid does not reject the row: the row loads
    without it, and the field is listed as a warning and in a warnings file beside the rejects.
    """
    from mdm.loading import load_file
    from mdm.mappings import mapping_for, read_mappings

    if mode not in ("delta", "snapshot"):
        raise typer.BadParameter("mode must be delta or snapshot", param_hint="--mode")
    mapping = mapping_for(read_mappings(_mappings_dir()), system)
    engine = _engine()
    report = load_file(
        engine, file, mapping, mode=mode, allow_retire=allow_retire,  # type: ignore[arg-type]
        rejects_dir=state.settings.work_dir / "rejects",
    )  # fmt: skip

    console.print(
        f"{report.system}: {report.rows_read} rows read, {report.inserted} new, {report.changed} changed, "
        f"{report.unchanged} unchanged, {report.stale} older versions kept, {report.retired} retired, "
        f"{report.rejected} rejected"
        + (f", {report.fields_set_missing} invalid fields set missing" if report.set_missing else "")
    )
    for source_id, rows in sorted(report.duplicate_source_ids.items()):
        console.print(
            f"  source id {source_id!r} repeated on rows {', '.join(map(str, sorted(rows)))}: row {rows[-1]} "
            "wins (updated last; the later row when times tie)"
        )
    for rejection in report.rejections[:20]:
        console.print(escape(f"  rejected: {rejection.reason} [{rejection.code}, field {rejection.field}]"))
    if len(report.rejections) > 20:
        console.print(f"  ... and {len(report.rejections) - 20} more problems")
    if report.rejects_file:
        console.print(f"  rejected rows written to {report.rejects_file}")
    for warning in report.set_missing[:20]:
        where = f"[{warning.code}, source id {warning.source_id}, field {warning.field}]"
        console.print(escape(f"  set missing: {warning.reason} {where}"))
    if report.fields_set_missing > 20:
        console.print(f"  ... and {report.fields_set_missing - 20} more")
    if report.warnings_file:
        console.print(f"  fields set missing written to {report.warnings_file}")
    if report.rows_read and report.rejected == report.rows_read:
        errors.print("[bold red]error[/] every row was rejected: nothing was loaded")
        raise typer.Exit(code=2)


@app.command()
@_reports_errors
def restandardise() -> None:
    """Rebuild every standardised field from the stored canonical fields."""
    from mdm.standardised import restandardise as rebuild

    count = rebuild(_engine())
    console.print(f"{count} records standardised")


def _priorities() -> dict[str, int]:
    from mdm.mappings import read_mappings

    return {system: mapping.priority for system, mapping in read_mappings(_mappings_dir()).items()}


def _profile() -> MatchProfile:
    from matching.profile import load_profile

    return load_profile(state.settings.profile_file)


@app.command()
@_reports_errors
def match(
    plan: Annotated[bool, typer.Option("--plan", help="print the plan of changes, apply nothing")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="re-match every live record, not only the changed ones")
    ] = False,
) -> None:
    """Run the bulk match job: predict, cluster, reconcile with today's ids, apply in batches."""
    from mdm.bulk import run_match

    # Limitation: every run re-matches all live records, so --full is what a run always does until
    # incremental matching (issue 6) gives runs without it less to do.
    del full

    engine = _engine()
    profile, priorities = _profile(), _priorities()
    if plan:
        outcome = run_match(engine, profile, plan_only=True, priorities=priorities)
    else:
        with _progress() as bar:
            task = bar.add_task("applying plan", total=None)

            def advance(_step: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            outcome = run_match(engine, profile, priorities=priorities, progress=advance)
    _print_outcome(outcome)


def _print_outcome(outcome: MatchOutcome) -> None:
    for kind in outcome.kinds:
        if outcome.job_id is None and kind.trained:
            model = "a model trained for this plan only (a real run stores one)"
        else:
            model = f"model {kind.model_id}" + (" (trained now)" if kind.trained else "")
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(kind.review_reasons.items()))
        console.print(
            f"{kind.kind}: {kind.records} records, {kind.pairs_scored} pairs scored, "
            f"{kind.auto_merge_links} auto-merge links, {kind.review_items} review pairs"
            + (f" ({reasons})" if reasons else "")
            + f", {model}"
        )
        if kind.profile_differs:
            console.print(
                f"  note: the active {kind.kind} model was trained with another match profile than the one "
                "configured, and its comparisons and thresholds apply: `mdm model train --activate` "
                "trains one with the configured profile"
            )
    changes = outcome.changes
    verb = "plan" if outcome.job_id is None else f"job {outcome.job_id}"
    console.print(
        f"{verb}: {changes['created']} customers created, {changes['moved']} records moved, "
        f"{changes['merged']} merged, {changes['split']} split"
        + ("" if outcome.job_id is None else
           f"; {outcome.review_items_opened} review items opened, {outcome.golden_records_written} golden "
           f"records written, {outcome.events} events")
    )  # fmt: skip
    if outcome.records_retired or outcome.customers_retired:
        retired = f"{outcome.records_retired} records unlinked, {outcome.customers_retired} customers"
        console.print(f"retired: {retired}")
    if outcome.job_id is None:
        for merge in outcome.plan.merges[:20]:
            console.print(f"  merge {merge.loser} -> {merge.survivor}")
        for split in outcome.plan.splits[:20]:
            console.print(f"  split {split.canonical_id} -> {', '.join(split.successors)}")
        for move in [m for m in outcome.plan.moves if m.from_id is not None][:20]:
            console.print(f"  move {move.source_key}: {move.from_id} -> {move.to_id}")


model_app = typer.Typer(help="Match model versions: list, show, activate.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("list")
@_reports_errors
def model_list() -> None:
    """List stored model versions."""
    from mdm.models import list_models

    with _engine().connect() as connection:
        versions = list_models(connection)
    if not versions:
        console.print("no match model yet: `mdm match` trains one per kind")
        return
    console.print(f"{'id':>4}  {'kind':<13} {'ver':<4} {'created (UTC)':<26} training")
    for version in versions:
        active = "active" if version.active else ""
        console.print(
            f"{version.id:>4}  {version.kind:<13} v{version.version:<3} {version.created_at}  "
            f"{version.records} records, {version.seconds:.1f} s  {active}"
        )


@model_app.command("show")
@_reports_errors
def model_show(model_id: int) -> None:
    """Show one model version: thresholds and the trained m and u per comparison level."""
    from mdm.models import get_model

    with _engine().connect() as connection:
        model = get_model(connection, model_id)
    report = model.report
    console.print(
        f"{model.kind} model: {report.records} records, seed {report.seed}, "
        f"prior {report.probability_two_random_records_match:.2e}, Splink {report.splink_version}"
    )
    console.print(f"auto-merge at match weight {model.auto_merge_weight}, review at {model.review_weight}")
    console.print(f"strong identifiers: {', '.join(model.profile.strong) or 'none'}")
    console.print("comparison levels (m, u: trained probabilities; weight: log2 m/u; - where not trained):")
    for level in report.levels:
        m = "-" if level.m_probability is None else f"{level.m_probability:.4g}"
        u = "-" if level.u_probability is None else f"{level.u_probability:.4g}"
        weight = "-" if level.match_weight is None else f"{level.match_weight:+.2f}"
        console.print(
            f"  {level.comparison:<14} {level.gamma:>2}  {level.label:<58} m {m:<10} u {u:<10} {weight}"
        )


@model_app.command("train")
@_reports_errors
def model_train(
    activate: Annotated[bool, typer.Option(help="make the new versions the active ones")] = False,
) -> None:
    """Train a new model version of each kind from the configured profile and the live records."""
    from matching.training import train_model
    from mdm.bulk import read_live_records
    from mdm.models import store_model

    engine = _engine()
    profile = _profile()
    frame = read_live_records(engine).frame
    for kind in ("organisation", "person"):
        records = frame[frame["kind"] == kind]
        if records.empty:
            continue
        model = train_model(records, profile, kind)
        with engine.begin() as connection:
            model_id = store_model(connection, model, activate=activate)
        state_text = "active" if activate else "stored; `mdm model activate` puts it in use"
        console.print(f"{kind}: model {model_id} trained on {len(records)} records, {state_text}")


@model_app.command("activate")
@_reports_errors
def model_activate(model_id: int) -> None:
    """Make a model version the active one of its kind."""
    from mdm.models import activate_model

    with _engine().begin() as connection:
        activate_model(connection, model_id)
    console.print(f"model {model_id} is active")


@app.command("evaluate")
@_reports_errors
def evaluate_command(
    truth: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV: system, source_id, entity_id")
    ],
) -> None:
    """Score the crosswalk (and the review queue) against a truth file: precision, recall, F1."""
    from mdm.accuracy import hub_accuracy
    from mdm.evaluate import read_truth

    accuracy = hub_accuracy(_engine(), read_truth(truth))
    _print_accuracy(accuracy)


def _print_accuracy(accuracy: HubAccuracy) -> None:
    auto, both = accuracy.auto_merge, accuracy.with_review
    console.print(
        f"auto-merge pairwise: precision {auto.precision:.4f}, recall {auto.recall:.4f}, F1 {auto.f1:.4f} "
        f"({auto.true_positive_pairs} true, {auto.false_positive_pairs} false pairs, "
        f"{auto.false_negative_pairs} missed)"
    )
    console.print(
        f"auto-merge clusters: precision {auto.cluster_precision:.4f}, recall {auto.cluster_recall:.4f}, "
        f"F1 {auto.cluster_f1:.4f}"
    )
    console.print(
        f"auto-merge plus review: pairwise recall {both.recall:.4f}, precision {both.precision:.4f}; "
        f"{accuracy.review_items} review items = {accuracy.review_share:.2%} of {accuracy.records} records"
    )
    if auto.missing_records or auto.unknown_records:
        console.print(
            f"{auto.missing_records} truth keys have no live record in the hub (scored as unlinked); "
            f"{auto.unknown_records} live records are not in the truth (left out)"
        )


@app.command()
@_reports_errors
def show(
    id_or_key: Annotated[
        str, typer.Argument(metavar="ID", help="canonical id, or source key system/source_id")
    ],
) -> None:
    """Show a customer: status, golden record with lineage, and crosswalk."""
    from mdm.lookup import look_up

    with _engine().connect() as connection:
        found = look_up(connection, id_or_key)

    if found.source_key is not None:
        console.print(f"source key {found.source_key} belongs to {found.customer.canonical_id}")
    _print_customer(found.customer)
    if found.survivor is not None:
        console.print(
            f"\n{found.customer.canonical_id} redirects to its survivor {found.survivor.canonical_id}:"
        )
        _print_customer(found.survivor)


def _print_customer(customer: CustomerView) -> None:
    from rich.table import Table

    ended = f", ended {customer.ended_at:%Y-%m-%d %H:%M:%S} UTC" if customer.ended_at else ""
    console.print(
        f"[bold]{customer.canonical_id}[/]  {customer.kind}, {customer.status}, "
        f"created {customer.created_at:%Y-%m-%d %H:%M:%S} UTC{ended}"
    )
    if customer.merged_into is not None:
        console.print(f"merged into {customer.merged_into}")
    if customer.successors:
        console.print(f"split into {', '.join(customer.successors)}")

    if customer.golden_version is not None:
        closed = " (closed)" if customer.golden_valid_to is not None else ""
        table = Table(title=f"golden record, version {customer.golden_version}{closed}", title_justify="left")
        for column in ("attribute", "value", "source record", "rule"):
            table.add_column(column, overflow="fold")
        for attribute in customer.attributes:
            source = f"{attribute.source_key} v{attribute.source_version}"
            table.add_row(attribute.name, attribute.value, source, attribute.rule)
        console.print(table)

    if customer.crosswalk:
        console.print(f"crosswalk: {len(customer.crosswalk)} source keys")
        for key in customer.crosswalk:
            console.print(f"  {key.key}  since {key.valid_from:%Y-%m-%d %H:%M:%S} UTC")


@app.command()
@_reports_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI at /schema/openapi.json, docs at /schema) with uvicorn."""
    import uvicorn

    from api import create_app

    # As many PostgreSQL connections as the threads that run handlers (anyio's default is 40), so
    # that under load a request waits for a thread, never for a connection as well.
    pool = {"pool_size": 10, "max_overflow": 30} if "postgresql" in state.settings.database_url else {}
    application = create_app(state.settings, engine=_engine(**pool))
    uvicorn.run(application, host=host, port=port, access_log=False, log_level=state.settings.log_level)


keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@_reports_errors
def keys_create(
    role: Annotated[str, typer.Option(help="reader, writer, steward or admin")],
    system: Annotated[str | None, typer.Option(help="the source system a writer key may write")] = None,
) -> None:
    """Make an API key and print it once: only its SHA-256 digest is kept."""
    from mdm.keys import Role

    if role not in {member.value for member in Role}:
        raise typer.BadParameter("role must be reader, writer, steward or admin", param_hint="--role")
    from mdm.keys import create_key
    from mdm.mappings import read_mappings

    configured = read_mappings(_mappings_dir())
    if system is not None and system not in configured:
        known = ", ".join(sorted(configured)) or "none"
        raise typer.BadParameter(f"no source system {system!r} is configured (known: {known})",
                                 param_hint="--system")  # fmt: skip

    with _engine().begin() as connection:
        info, key = create_key(connection, Role(role), system)
    bound = f" for system {info.system}" if info.system else ""
    errors.print(f"API key {info.id} ({info.role}{bound}); it is shown this once only:")
    console.print(key)


@keys_app.command("list")
@_reports_errors
def keys_list() -> None:
    """List API keys: id, role, system and dates; never the keys themselves."""
    from mdm.keys import list_keys

    with _engine().connect() as connection:
        found = list_keys(connection)
    if not found:
        console.print("no API keys yet: `mdm keys create --role reader` makes one")
        return
    for info in found:
        revoked = f"revoked {info.revoked_at:%Y-%m-%d %H:%M:%S}" if info.revoked_at else "active"
        console.print(
            f"{info.id:>4}  {info.role:<8} {info.system or '-':<12} "
            f"created {info.created_at:%Y-%m-%d %H:%M:%S}  {revoked}"
        )


@keys_app.command("revoke")
@_reports_errors
def keys_revoke(key_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Revoke an API key; servers refuse it within seconds."""
    from mdm.keys import revoke_key

    with _engine().begin() as connection:
        revoke_key(connection, key_id)
    console.print(f"API key {key_id} is revoked")


class ExportWhat(StrEnum):
    """What ``mdm export`` writes."""

    CROSSWALK = "crosswalk"
    GOLDEN = "golden"


class ExportFormat(StrEnum):
    """The file format of ``mdm export``."""

    CSV = "csv"
    PARQUET = "parquet"


@app.command("export")
@_reports_errors
def export_command(
    what: Annotated[ExportWhat, typer.Option(help="the live crosswalk, or the current golden records")],
    out: Annotated[Path, typer.Option(dir_okay=False, help="file to write; replaced if it exists")],
    file_format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.CSV,
) -> None:
    """Export the live crosswalk or the current golden records as CSV or Parquet."""
    from mdm.export import export_crosswalk, export_golden

    write = export_crosswalk if what is ExportWhat.CROSSWALK else export_golden
    rows = write(_engine(), out, "csv" if file_format is ExportFormat.CSV else "parquet")
    console.print(f"{rows} {what.value} rows written to {out}")


@app.command()
@_reports_errors
def sample(
    out: Annotated[Path, typer.Option(help="folder to write the exports and truth to")] = Path("sample-data"),
    customers: Annotated[int, typer.Option(min=1)] = 3000,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Write sample CRM, billing, ERP and support exports of generated customers, with the truth."""
    from mdm.sample import generate_sample

    files = generate_sample(out, customers=customers, seed=seed)
    for line in files.summary_lines():
        console.print(line)


@app.command()
@_reports_errors
def febrl(
    out: Annotated[Path, typer.Option(help="folder to write the exports and truth to")] = Path("febrl-data"),
) -> None:
    """Write the Febrl3 and Febrl4 data sets as source system files, with their truth."""
    from mdm.febrl import febrl_mappings_dir, febrl_profile_file, write_febrl

    files = write_febrl(out)
    for system, path in files.systems.items():
        console.print(f"{system:<8} {path}  {files.records[system]} records")
    for data_set, path in files.truth.items():
        console.print(f"truth of {data_set}: {path}")
    console.print(f"source mappings: MDM_MAPPINGS_DIR={febrl_mappings_dir()}")
    console.print(f"match profile:   MDM_PROFILE_FILE={febrl_profile_file()}")


@app.command()
@_reports_errors
def demo(
    out: Annotated[Path, typer.Option(help="folder for the sample files and the demo database")] = Path(
        "demo-output"
    ),
    customers: Annotated[int, typer.Option(min=10)] = 3000,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Run the main job end to end on a generated sample, in a fresh SQLite file, and score it."""
    from mdm.accuracy import hub_accuracy
    from mdm.bulk import run_match
    from mdm.evaluate import read_truth
    from mdm.loading import load_file
    from mdm.mappings import read_mappings
    from mdm.sample import generate_sample, sample_mappings_dir
    from mdm.storage.database import make_engine, upgrade

    # The demo prints its own summary; progress events would bury it (MDM_LOG_LEVEL=info shows them).
    if state.settings.log_level == "info":
        configure_logging("warning", state.settings.log_format)
    out.mkdir(parents=True, exist_ok=True)
    database = out / "mdm.db"
    for stale in (database, out / "mdm.db-wal", out / "mdm.db-shm"):
        stale.unlink(missing_ok=True)

    console.print(f"[bold]1. sample[/]: {customers} customers, seed {seed}, into {out}/")
    files = generate_sample(out, customers=customers, seed=seed)
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    mappings = read_mappings(sample_mappings_dir())

    console.print("[bold]2. load[/]")
    reasons: dict[str, int] = {}
    loaded = set_missing = 0
    for system, file in files.systems.items():
        report = load_file(engine, file.path, mappings[system], rejects_dir=out / "rejects")
        loaded += report.inserted
        for rejection in report.rejections:
            reasons[rejection.code] = reasons.get(rejection.code, 0) + 1
        set_missing += report.fields_set_missing
        repeated = len(report.duplicate_source_ids)
        console.print(
            f"  {system:<8} {report.rows_read:>6} rows read, {report.inserted:>6} loaded, "
            f"{report.rejected} rejected"
            + (f", {report.fields_set_missing} invalid fields set missing" if report.set_missing else "")
            + (f", {repeated} repeated source ids" if repeated else "")
        )
    if reasons:
        console.print(
            "  rejected rows by reason: " + ", ".join(f"{code} {n}" for code, n in sorted(reasons.items()))
        )
        console.print(f"  rejected rows with their reasons are in {out / 'rejects'}/")
    if set_missing:
        console.print(
            f"  {set_missing} invalid fields were set missing; they are listed in {out / 'rejects'}/"
        )

    console.print("[bold]3. match[/] (trains one model per kind on first run)")
    priorities = {system: mapping.priority for system, mapping in mappings.items()}
    outcome = run_match(engine, _profile(), priorities=priorities)
    _print_outcome(outcome)

    console.print("[bold]4. accuracy[/] against the sample's truth")
    _print_accuracy(hub_accuracy(engine, read_truth(files.truth)))
    customers_now = len(outcome.plan.created)
    # The customer with the most source records makes the best first look.
    example = max(outcome.plan.created, key=lambda created: len(created.source_keys), default=None)
    console.print(f"\n{customers_now} customers from {loaded} loaded records.")
    if example is not None:
        console.print(
            f"Look one up: MDM_DATABASE_URL=sqlite:///{database} .venv/bin/mdm show {example.canonical_id}"
        )
