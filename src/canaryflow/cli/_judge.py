"""Judge commands: the rubric schema, the human review queue, judge-human agreement.

``canaryflow review`` is blind: until an item is labelled it shows neither the judge's scores nor
the routing reason (``low score: correctness`` would give the score away), so a reviewer's label
is their own reading. Labelling reveals the judge's scores next to the label.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from canaryflow.cli._app import ConfigOpt, app, console, handles_errors, schema_app
from canaryflow.errors import CanaryflowError

if TYPE_CHECKING:
    from canaryflow.store import ReviewStatus

review_app = typer.Typer(
    help="The human review queue: list, show and label judged items.", no_args_is_help=True
)
judge_app = typer.Typer(
    help="The LLM judge: rubrics and agreement with humans.", no_args_is_help=True
)
app.add_typer(review_app, name="review")
app.add_typer(judge_app, name="judge")

EXIT_INCONCLUSIVE = 3


@schema_app.command("rubric")
def schema_rubric() -> None:
    """Print the JSON Schema of rubric YAML files."""
    from canaryflow.judges import rubric_json_schema

    typer.echo(json.dumps(rubric_json_schema(), indent=2))


def _rubrics(config: Any) -> dict[str, Any]:
    from canaryflow.judges import load_rubrics

    rubrics = load_rubrics()
    if config.judge.rubric_dir:
        rubrics.update(load_rubrics(config.judge.rubric_dir))
    return rubrics


def _find(ws: Any, source: str, item_id: str) -> Any:
    for item in ws.store.list_review_items(source):
        if item.item_id == item_id:
            return item
    raise CanaryflowError(
        f"no review item {item_id!r} from {source!r} (see canaryflow review list)"
    )


def _blind(status: str) -> bool:
    return status == "pending"


@review_app.command("list")
@handles_errors
def review_list(
    config: ConfigOpt = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, reviewed or dismissed (default: all).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.")] = None,
) -> None:
    """List queued items (the judge's verdict stays hidden until an item is labelled)."""
    from canaryflow.runs import open_workspace

    statuses: dict[str | None, ReviewStatus | None] = {
        None: None,
        "pending": "pending",
        "reviewed": "reviewed",
        "dismissed": "dismissed",
    }
    if status not in statuses:
        raise typer.BadParameter(f"expected pending, reviewed or dismissed, got {status!r}")
    ws = open_workspace(config)
    rows = ws.store.list_review_items(source, status=statuses[status], limit=limit)
    table = Table(title="review queue", title_justify="left")
    for col in ("source", "item", "status", "rubric", "queued", "why"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            escape(r.source),
            escape(r.item_id),
            r.status,
            escape(str(r.payload.get("rubric", "-"))),
            f"{r.created_at:%Y-%m-%d %H:%M}",
            "(hidden until labelled)" if _blind(r.status) else escape(r.reason),
        )
    console.print(table)
    console.print(f"{len(rows)} item(s)")


@review_app.command("show")
@handles_errors
def review_show(
    source: Annotated[str, typer.Argument(help="The item's source (see review list).")],
    item_id: Annotated[str, typer.Argument(help="The item id.")],
    config: ConfigOpt = None,
) -> None:
    """Show one item: input, output, reference/context and the rubric's anchors."""
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    item = _find(ws, source, item_id)
    p = item.payload
    console.print(f"[bold]{escape(item.source)} / {escape(item.item_id)}[/bold] ({item.status})")
    for key in ("input", "context", "reference", "output"):
        if p.get(key) is not None:
            console.print(f"\n[bold]{key}[/bold]\n{escape(str(p[key]))}", soft_wrap=True)
    rubric = _rubrics(ws.config).get(p.get("rubric", ""))
    if rubric is not None:
        console.print(f"\n[bold]rubric {rubric.name} v{rubric.version}[/bold]")
        for d in rubric.dimensions:
            console.print(f"  {d.name} ({d.scale.min}-{d.scale.max}): {escape(d.description)}")
            for score in sorted(d.anchors):
                console.print(f"      {score}: {escape(d.anchors[score])}")
    if _blind(item.status):
        console.print("\njudge verdict hidden until you label: canaryflow review label ...")
    else:
        console.print(f"\n[bold]why queued[/bold] {escape(item.reason)}")
        console.print(f"[bold]judge[/bold] {escape(json.dumps(p.get('judge_scores', {})))}")
        console.print(escape(str(p.get("judge_reasoning", ""))), soft_wrap=True)


def _parse_scores(values: list[str], rubric: Any) -> dict[str, int]:
    scores: dict[str, int] = {}
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected DIMENSION=SCORE like correctness=4, got {raw!r}")
        try:
            dim = rubric.dimension(name)
        except KeyError:
            raise typer.BadParameter(
                f"{name!r} is not a dimension of rubric {rubric.name!r}: "
                f"{list(rubric.dimension_names)}"
            ) from None
        try:
            score = int(value)
        except ValueError:
            raise typer.BadParameter(f"{name}: expected a whole score, got {value!r}") from None
        if not dim.scale.min <= score <= dim.scale.max:
            raise typer.BadParameter(
                f"{name}: {score} is outside the scale {dim.scale.min}-{dim.scale.max}"
            )
        scores[name] = score
    return scores


@review_app.command("label")
@handles_errors
def review_label(
    source: Annotated[str, typer.Argument(help="The item's source.")],
    item_id: Annotated[str, typer.Argument(help="The item id.")],
    score: Annotated[
        list[str], typer.Option("--score", "-s", help="DIMENSION=SCORE, repeat per dimension.")
    ],
    config: ConfigOpt = None,
    labeller: Annotated[str, typer.Option(help="Who labels (one label per person).")] = "human",
    note: Annotated[str, typer.Option(help="Free comment.")] = "",
) -> None:
    """Record your scores for an item, then see the judge's."""
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    item = _find(ws, source, item_id)
    p = item.payload
    rubric = _rubrics(ws.config).get(p.get("rubric", ""))
    if rubric is None:
        raise CanaryflowError(f"the item's rubric {p.get('rubric')!r} is not known here")
    scores = _parse_scores(score, rubric)
    with ws.store.transaction() as conn:
        ws.store.add_judge_label(
            source=source,
            item_id=item_id,
            rubric=rubric.name,
            rubric_version=int(p.get("rubric_version", rubric.version)),
            labeller=labeller,
            human_scores=scores,
            judge_scores=p.get("judge_scores", {}),
            note=note,
            conn=conn,
        )
        ws.store.set_review_status(source, item_id, "reviewed", conn=conn)
    console.print(f"labelled {escape(item_id)}: {json.dumps(scores)}")
    console.print(f"judge said: {escape(json.dumps(p.get('judge_scores', {})))}")
    console.print(f"why queued: {escape(item.reason)}")


def _ci(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


@judge_app.command("agreement")
@handles_errors
def judge_agreement(
    config: ConfigOpt = None,
    rubric: Annotated[str | None, typer.Option("--rubric", "-r", help="Only this rubric.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Judge-human agreement per dimension: weighted kappa, Spearman, exact, with 95 % CIs."""
    from canaryflow.judges import agreement
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    labels = ws.store.list_judge_labels(rubric)
    if not labels:
        console.print("no human labels yet: label queued items with canaryflow review label")
        raise typer.Exit(EXIT_INCONCLUSIVE)
    by_rubric: dict[str, list[dict[str, Any]]] = {}
    for row in labels:
        by_rubric.setdefault(row["rubric"], []).append(row)
    for name, rows in sorted(by_rubric.items()):
        table = Table(title=f"judge vs human: {name}", title_justify="left")
        for col in (
            "dimension",
            "n",
            "weighted kappa",
            "95% CI",
            "spearman",
            "95% CI",
            "exact",
            "95% CI",
        ):
            table.add_column(col)
        for a in agreement(rows, n_resamples=resamples, seed=seed):
            table.add_row(
                a.dimension,
                str(a.n),
                _num(a.kappa),
                _ci(a.kappa_ci),
                _num(a.spearman),
                _ci(a.spearman_ci),
                _num(a.exact),
                _ci(a.exact_ci),
            )
        console.print(table)
