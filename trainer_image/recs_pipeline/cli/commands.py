"""The `recs-pipeline` commands: run the pipeline locally, compile it, prepare data, inspect and report metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from recs_pipeline.cli.options import data_options, error_text, synthetic_options, train_options
from recs_pipeline.core.extras import require_train_extra
from recs_pipeline.pipelines.run_folders import KEEP_RUNS


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the input's fault: shown as one clear line and exit code 1, no traceback.
    Only the project's own UserError types (and a missing file): any other error is a bug and
    keeps its traceback."""
    from recs_pipeline.core.errors import UserError

    return (UserError, FileNotFoundError)


PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, as a shell reports a process stopped by it


class FriendlyGroup(click.Group):
    def invoke(self, ctx: click.Context):
        from recs_pipeline.core.errors import ConfigError
        from recs_pipeline.training.preemption import Preempted

        try:
            return super().invoke(ctx)
        except ConfigError as error:  # a setting's message names it as the pipeline does: here, by its flag
            raise click.ClickException(error_text(str(error))) from error
        except _user_errors() as error:
            raise click.ClickException(str(error)) from error
        except Preempted as error:
            click.echo(f"Error: {error}: stopped; finished epochs and status are saved, rerun with the same --run-id to resume", err=True)
            raise click.exceptions.Exit(PREEMPTED_EXIT_CODE) from error




@click.group(cls=FriendlyGroup)
@click.version_option(package_name="recs-pipeline")
def main() -> None:
    """Two-tower retrieval training on Kubeflow Pipelines / Vertex AI Pipelines."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


@main.command("run-local")
@click.option("--output-dir", required=True, type=click.Path(file_okay=False), help="Where the run's files go.")
@data_options
@train_options
@click.option("--metrics-uri", default="", help="Also write training_metrics.json and training_status.json here "
                                                  "(gs:// or folder; {run_id} becomes the run id).")
@click.option("--run-id", default="", help="Identifies the run in its history (default: the pipeline job name).")
@click.option("--experiment", default="", help="Log the run to this Vertex AI experiment (needs a Google Cloud project).")
@click.option("--experiment-tensorboard", default="", help="Vertex AI TensorBoard backing the experiment's time series.")
@click.option("--project", default="", help="Google Cloud project for --experiment (default: the environment's).")
@click.option("--location", default="", help="Google Cloud region for --experiment (default: the environment's).")
@synthetic_options
@click.option("--verbose", "-v", is_flag=True, help="Stream every task's whole log (it always goes to OUTPUT_DIR/run-local.log).")
@click.option("--keep-runs", type=click.IntRange(min=0), default=KEEP_RUNS, show_default=True,
              help="kfp.local run folders kept in OUTPUT_DIR/pipeline_root (the newest; about 25 MB each); 0 keeps all.")
def run_local_command(output_dir: str, input_uri: str, verbose: bool, keep_runs: int, **options) -> None:
    """Compile the pipeline and run it here with kfp.local (no Docker, no cloud account)."""
    require_train_extra("run-local")
    from recs_pipeline.pipelines.local_run import run_local

    arguments = {"input_uri": input_uri, **options}
    from recs_pipeline.core.progress import console_lines

    result = run_local(output_dir, arguments, verbose=verbose, keep_runs=keep_runs)
    for line in console_lines(result.pruned) if result.pruned else []:
        click.echo(line)
    click.echo("\n" + recall_summary(result.training_metrics))
    click.echo(f"\nfiles in {result.output_dir}:")  # named from there, so the lines stay short whatever the folder
    for name in ("training_metrics.json", "training_status.json", "report.html", "run_manifest.json", result.log_file.name):
        click.echo(f"  {name}")
    click.echo(f"  {Path(result.artifacts['train.serving_model']).relative_to(result.output_dir)}  (the retrieval model)")
    click.echo(f"try it: recs-pipeline recommend --model {output_dir} --customer <id>")


def recall_summary(document: dict) -> str:
    """Recall@K of the model beside every baseline, as a text table (and the catalog-size warning),
    then the same per test segment."""
    from recs_pipeline.tracking.tables import recall_text

    return recall_text(document)


@main.command("compile")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Pipeline YAML to write.")
@click.option("--image", default=None, help="Trainer image for every task (default: the pinned release image).")
@click.option("--trainer", type=click.Choice(["custom-job", "task"]), default="custom-job", show_default=True,
              help="Run the train step as a Vertex AI CustomJob (machine, GPUs, replicas as run-time parameters) or in its task.")
def compile_command(output: str, image: str | None, trainer: str) -> None:
    """Write the pipeline YAML for Vertex AI Pipelines."""
    from recs_pipeline.pipelines.pipeline import compile_pipeline
    from recs_pipeline.vertex.image import TRAINER_IMAGE, image_warning

    Path(output).parent.mkdir(parents=True, exist_ok=True)
    compile_pipeline(output, image or TRAINER_IMAGE, trainer)
    click.echo(f"wrote {output} (image {image or TRAINER_IMAGE}, train step: {trainer})")
    if warning := image_warning(image or TRAINER_IMAGE):
        click.echo(f"warning: {warning}", err=True)


@main.command("prepare")
@click.option("--output-dir", required=True, type=click.Path(file_okay=False))
@data_options
@click.option("--seed", type=int, default=42, show_default=True)
def prepare_command(input_uri: str, output_dir: str, seed: int, **settings) -> None:
    """Run data prep alone: splits, vocabularies and stats into OUTPUT_DIR."""
    require_train_extra("prepare")
    from recs_pipeline.core import progress
    from recs_pipeline.data.prepared_data import STATS_FILE
    from recs_pipeline.steps import prep

    progress.to_console()  # the one data-prep line run-local shows, not every log line
    prep.run(output_dir, input_uri, {**settings, "seed": seed}, {"seed": seed})
    click.echo(f"splits, vocabularies and stats in {output_dir} (every count: {Path(output_dir) / STATS_FILE})")


@main.command("train")
@click.option("--prepared-dir", required=True, type=click.Path(file_okay=False, exists=True), help="Output of `prepare`.")
@click.option("--model-dir", required=True, type=click.Path(file_okay=False))
@click.option("--training-log-dir", required=True, type=click.Path(file_okay=False),
              help="Local folder for the training log (training_metrics.json) and status.")
@click.option("--serving-dir", default="", help="Where the retrieval SavedModel goes (default: MODEL_DIR/retrieval).")
@click.option("--metrics-uri", default="",
              help="Also write the training log, status and checkpoints here (gs:// or folder; {run_id} becomes the run id).")
@click.option("--run-id", required=True, help="Rerunning with the same id resumes after the last finished epoch.")
@train_options
def train_command(prepared_dir: str, model_dir: str, training_log_dir: str, serving_dir: str, metrics_uri: str, run_id: str,
                  **settings) -> None:
    """Run the train step alone (what the pipeline's train task, or each CustomJob replica, runs)."""
    from recs_pipeline.core.config import TrainConfig
    require_train_extra("train")
    from recs_pipeline.steps import train

    result = train.run(prepared_dir, model_dir, training_log_dir, TrainConfig(**settings), run_id=run_id, metrics_uri=metrics_uri,
                       serving_dir=serving_dir)
    click.echo(f"trained {result.epochs_done} epoch(s); final loss {result.final_loss:.4f}, val loss {result.final_val_loss:.4f}")


@main.command("recommend")
@click.option("--model", "model_dir", required=True,
              help="A retrieval model folder (the train step's serving_model), or a run-local --output-dir.")
@click.option("--customer", "customers", multiple=True, help="Customer id; repeat for several.")
@click.option("--customers-file", default="", help="Many customers in one call (TensorFlow starts once): one id per line, or a CSV "
              "with a --customer-column column.")
@click.option("--customer-column", default="customer_id", show_default=True, help="The id column of a CSV --customers-file.")
@click.option("--features", "new_customers", multiple=True, metavar="NAME=VALUE,...",
              help="A new customer's feature values, e.g. segment=retail,country=DE: scored from them (no id, no purchase); "
                   "repeat for several.")
@click.option("-k", "k", type=int, default=10, show_default=True, help="How many products to show.")
@click.option("--output-format", type=click.Choice(["text", "csv"]), default="text", show_default=True,
              help="csv: one row per customer and rank (customer_id,rank,product_id,score,known_customer).")
def recommend_command(model_dir: str, customers: tuple[str, ...], customers_file: str, customer_column: str, new_customers: tuple[str, ...],
                      k: int, output_format: str) -> None:
    """Top products for customers, through the exported retrieval SavedModel: by id, or for a new
    customer from their feature values.

    Most of a call is TensorFlow starting and loading the model; each further customer costs
    little, so ask for many at once (--customers-file) rather than one call each."""
    from recs_pipeline.data import customer_ids
    from recs_pipeline.pipelines.local_run import serving_model_dir

    if not Path(model_dir).is_dir():  # said before TensorFlow loads
        raise click.ClickException(f"model not found: {model_dir} (give a train step's serving_model folder or a run-local --output-dir)")
    wanted = [*customers, *(customer_ids.read(customers_file, customer_column) if customers_file else [])]
    described = [_parse_features(text) for text in new_customers]
    if not wanted and not described:
        raise click.UsageError("give --customer ID (repeatable), --customers-file FILE or --features NAME=VALUE,...")
    require_train_extra("recommend")
    from recs_pipeline.model import retrieval

    folder = serving_model_dir(model_dir)
    answers = []
    if wanted:
        serve = retrieval.load(folder)
        answers += [answer for start in range(0, len(wanted), RECOMMEND_BATCH)
                    for answer in retrieval.recommend(serve, wanted[start:start + RECOMMEND_BATCH], k)]
    if described:
        answers += retrieval.recommend_new(retrieval.load_new_customer(folder), described, k)
    (_echo_csv if output_format == "csv" else _echo_text)(answers, k)


def _parse_features(text: str) -> dict[str, str]:
    """--features NAME=VALUE,NAME=VALUE as a dict; a part without '=' or a name given twice stops, naming it."""
    features: dict[str, str] = {}
    for part in text.split(","):
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or not name:
            raise click.UsageError(f"--features {text!r}: {part!r} is not NAME=VALUE")
        if name in features:
            raise click.UsageError(f"--features {text!r}: {name!r} is given twice")
        features[name] = value
    return features


@main.command("export-serving")
@click.option("--model", "model", required=True,
              help="A run-local --output-dir, or a train step's model folder (then give --prepared-dir).")
@click.option("--prepared-dir", default="", help="The prepared data the model was trained on (default: the run-local folder's).")
@click.option("--products", required=True, help="CSV: the product id column and every product feature column the towers read.")
@click.option("--product-column", default="product_id", show_default=True, help="The product id column of --products.")
@click.option("--output", required=True, type=click.Path(file_okay=False), help="Where the retrieval SavedModel goes.")
def export_serving_command(model: str, prepared_dir: str, products: str, product_column: str, output: str) -> None:
    """Export the retrieval SavedModel again with new products: those of --products not in the
    catalog are embedded from their features and added, without retraining the towers."""
    from recs_pipeline.pipelines.local_run import run_artifact

    if not Path(model).is_dir():
        raise click.ClickException(f"model not found: {model} (give a run-local --output-dir or a train step's model folder)")
    model_dir = run_artifact(model, "train.model") or model
    prepared_dir = prepared_dir or run_artifact(model, "data-prep.prepared_data") or ""
    if not (Path(model_dir) / "model_info.json").is_file():
        raise click.ClickException(f"{model}: no model_info.json (give a run-local --output-dir or a train step's model folder)")
    if not prepared_dir:
        raise click.UsageError("give --prepared-dir: the prepared data the model was trained on (a run-local --output-dir names its own)")
    if not Path(products).is_file():
        raise click.ClickException(f"product table not found: {products}")
    require_train_extra("export-serving")
    for logger in ("tensorflow", "absl"):  # their lines about loading and saving SavedModels say nothing to act on
        logging.getLogger(logger).setLevel(logging.ERROR)
    from recs_pipeline.model import product_table

    done = product_table.export(model_dir, prepared_dir, products, output, product_column)
    click.echo(f"added {done.added} new product(s) to the catalog ({done.already_in_catalog} of the table's were in it already; "
               f"{done.products} in all); retrieval model in {output}")
    if done.added and not done.ranked:
        click.echo("note: this model's score form gives the towers weight 0 for new products, so they score -inf, last")
        click.echo("      (validation showed no gain in lifting them: too few of their purchases, too many hits lost, or a baseline kept)")


RECOMMEND_BATCH = 1024  # customers per call of the model: bounded memory for a file of millions


def _echo_text(answers: list, k: int) -> None:
    for answer in answers:
        if answer.from_features:
            click.echo(f"new customer {answer.customer_id}: top {k} from their features (score: the model's, as for a customer "
                       "with no purchase; higher ranks first)")
        elif answer.known_customer:
            click.echo(f"customer {answer.customer_id}: top {k} (score: the model's, in the form its training chose; "
                       "higher ranks first)")
        else:
            click.echo(f"customer {answer.customer_id} is not in the training data; "
                       f"popularity fallback: the {k} most bought products (score = share of purchases)")
        for rank, (product, score) in enumerate(zip(answer.product_ids, answer.scores), start=1):
            click.echo(f"  {rank:3d}  {product:24s} {score:10.4f}")
        if len(answer.product_ids) < k:
            click.echo(f"  only {len(answer.product_ids)} of {k}: the model cannot rank the others (nobody bought them yet)")


def _echo_csv(answers: list, k: int) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["customer_id", "rank", "product_id", "score", "known_customer"])
    for answer in answers:
        for rank, (product, score) in enumerate(zip(answer.product_ids, answer.scores), start=1):
            writer.writerow([answer.customer_id, rank, product, f"{score:.6g}", str(answer.known_customer).lower()])
    click.echo(buffer.getvalue(), nl=False)


@main.group("metrics")
def metrics_group() -> None:
    """Inspect a training_metrics.json (local path or gs://)."""


@metrics_group.command("validate")
@click.argument("uri")
def validate_command(uri: str) -> None:
    """Check a file against the schema; names the first bad field."""
    from recs_pipeline.tracking.reader import load_training_metrics

    metrics = load_training_metrics(uri)
    click.echo(f"valid: run {metrics.run_id}, {len(metrics.epochs)} epoch(s)")


@metrics_group.command("show")
@click.argument("uri")
def show_command(uri: str) -> None:
    """Print epochs, last losses and final metrics beside the baselines."""
    from recs_pipeline.tracking.reader import load_training_metrics
    from recs_pipeline.tracking.tables import metrics_text

    click.echo(metrics_text(load_training_metrics(uri).raw))


@main.command("report")
@click.argument("uri")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
def report_command(uri: str, output: str) -> None:
    """Rebuild the HTML report from any training_metrics.json."""
    from recs_pipeline.tracking.reader import load_training_metrics
    from recs_pipeline.tracking.report import html_report

    report = html_report(load_training_metrics(uri).raw)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(report)
    click.echo(f"wrote {output}")


@main.command("compare")
@click.argument("uris", nargs=-1, required=True)
@click.option("--html", "html_output", default=None, type=click.Path(dir_okay=False), help="Also write the comparison as HTML.")
def compare_command(uris: tuple[str, ...], html_output: str | None) -> None:
    """Several runs side by side: params and final metrics (differences marked), curves, recall."""
    from recs_pipeline.tracking.compare import comparison_html, comparison_text
    from recs_pipeline.tracking.reader import load_training_metrics

    if len(uris) < 2:
        raise click.UsageError("give at least two runs to compare")
    runs = [load_training_metrics(uri) for uri in uris]
    click.echo(comparison_text(runs))
    if html_output:
        Path(html_output).parent.mkdir(parents=True, exist_ok=True)
        Path(html_output).write_text(comparison_html(runs))
        click.echo(f"\nwrote {html_output}")


def _register_vertex_commands() -> None:
    from recs_pipeline.cli.vertex_commands import schedule_command, submit_command, upload_template_command

    for command in (submit_command, schedule_command, upload_template_command):
        main.add_command(command)


_register_vertex_commands()

