"""`recs-pipeline submit`, `schedule` and `upload-template`: the commands that talk to Vertex AI
and Artifact Registry (registered on the main group in cli/commands.py)."""

from __future__ import annotations

import contextlib
import json

import click

from recs_pipeline.cli.options import with_options

VERTEX_OPTIONS = [
    click.option("--project", required=True, help="Google Cloud project."),
    click.option("--region", required=True, help="Vertex AI region, e.g. europe-west4."),
    click.option("--pipeline-root", required=True, help="gs:// folder for the run's artifacts."),
    click.option("--template", default="", help="Compiled YAML or Artifact Registry template URL (default: compile now)."),
    click.option("--image", default="", help="With no --template: the trainer image to compile against."),
    click.option("--param", "params", multiple=True, help="Pipeline parameter NAME=VALUE; repeat for several."),
    click.option("--label", "labels", multiple=True, help="Label NAME=VALUE on the run; repeat for several."),
    click.option("--service-account", default="", help="Service account the run acts as."),
    click.option("--display-name", default="", help="Run display name (default: two-tower-retrieval)."),
    click.option("--enable-caching/--no-enable-caching", default=None,
                 help="--no-enable-caching: no task is cached. --enable-caching or neither: each task's own setting (data_prep is "
                      "reused only while the input is unchanged and never for a query; training, publishing never)."),
    click.option("--network", default="",
                 help="VPC network to peer the run and its train CustomJob with: projects/PROJECT_NUMBER/global/networks/NAME."),
    click.option("--encryption-spec-key-name", default="",
                 help="Cloud KMS key (CMEK) for the run, its CustomJob and the registered model."),
    click.option("--failure-policy", type=click.Choice(["fast", "slow"]), default=None,
                 help="fast: stop scheduling tasks after the first failure; slow (Vertex's default): run what still can."),
    click.option("--dry-run", is_flag=True, help="Print the full request and call nothing."),
]


vertex_options = with_options(VERTEX_OPTIONS)


def _job_settings(options: dict, experiment: str = ""):
    from recs_pipeline.vertex.submit import JobSettings, parse_assignments

    return JobSettings(
        project=options["project"], region=options["region"], pipeline_root=options["pipeline_root"],
        template=options["template"], image=options["image"], parameters=parse_assignments(options["params"]),
        service_account=options["service_account"], experiment=experiment, display_name=options["display_name"],
        labels=parse_assignments(options["labels"], "--label"), enable_caching=options["enable_caching"],
        network=options["network"], encryption_spec_key_name=options["encryption_spec_key_name"],
        failure_policy=options["failure_policy"] or "",
    )


@contextlib.contextmanager
def _warnings_shown():
    """Each SubmitWarning raised inside as one `warning: ...` line on stderr, after the call."""
    import warnings

    from recs_pipeline.vertex.submit import SubmitWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SubmitWarning)
        yield
    for warning in caught:
        if issubclass(warning.category, SubmitWarning):
            click.echo(f"warning: {warning.message}", err=True)


@click.command("submit")
@vertex_options
@click.option("--experiment", default="", help="Vertex AI experiment to associate the run with.")
@click.option("--wait", is_flag=True, help="Wait for the run to finish; exit 1 unless it succeeds.")
def submit_command(experiment: str, wait: bool, dry_run: bool, **options) -> None:
    """Submit the pipeline to Vertex AI Pipelines and print the console URL."""
    from recs_pipeline.vertex.submit import console_url, submit_pipeline

    settings = _job_settings(options, experiment)
    with _warnings_shown():
        result = submit_pipeline(settings, wait=wait, dry_run=dry_run)
    if dry_run:
        click.echo(json.dumps(result, indent=1))
        return
    click.echo(f"submitted {result.resource_name}\n{console_url(settings, result.job_id)}")
    if wait:
        click.echo(f"finished: {result.state.name}")
        if result.state.name != "PIPELINE_STATE_SUCCEEDED":
            raise click.exceptions.Exit(1)


@click.command("schedule")
@vertex_options
@click.option("--cron", required=True, help="Cron expression, e.g. '0 3 * * 1' or 'TZ=Europe/Berlin 0 3 * * 1'.")
@click.option("--schedule-name", default="", help="Schedule display name.")
@click.option("--max-concurrent-runs", type=int, default=1, show_default=True)
@click.option("--max-runs", type=int, default=None, help="Stop after this many runs (default: no limit).")
@click.option("--start-time", default="", help="RFC 3339 time of the first possible run.")
@click.option("--end-time", default="", help="RFC 3339 time after which no run starts.")
def schedule_command(cron: str, schedule_name: str, max_concurrent_runs: int, max_runs: int | None, start_time: str, end_time: str,
                     dry_run: bool, **options) -> None:
    """Create a Vertex AI pipeline schedule that runs the pipeline on a cron. Each run uses the
    template as it was when the schedule was created; a new template version needs a new schedule."""
    from recs_pipeline.vertex.submit import schedule_pipeline

    with _warnings_shown():
        result = schedule_pipeline(_job_settings(options), cron, schedule_name, max_concurrent_runs, max_runs, start_time, end_time,
                                   dry_run)
    if dry_run:
        click.echo(json.dumps(result, indent=1))
        return
    click.echo(f"created schedule {result.resource_name} ({cron})")


@click.command("upload-template")
@click.argument("template", type=click.Path(dir_okay=False))
@click.option("--host", default="", help="Registry URL (default: from --region/--project/--repository).")
@click.option("--region", default="", help="Artifact Registry region.")
@click.option("--project", default="", help="Google Cloud project.")
@click.option("--repository", default="", help="Artifact Registry repository of KFP format.")
@click.option("--tag", "tags", multiple=True, help="Extra tag (e.g. the commit, latest); v<version> is always set.")
@click.option("--variant", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True,
              help="The trainer image the template was compiled against; gpu: the version tag is v<version>-gpu.")
def upload_template_command(template: str, host: str, region: str, project: str, repository: str, tags: tuple[str, ...],
                            variant: str) -> None:
    """Upload a compiled pipeline YAML to Artifact Registry as a versioned template."""
    from recs_pipeline.vertex import templates

    if not host:
        if not (region and project and repository):
            raise click.UsageError("give --host, or --region, --project and --repository")
        host = templates.registry_host(region, project, repository)
    release_tags = templates.release_tags(tags, variant)
    package, version = templates.upload_template(template, host, release_tags)
    click.echo(f"uploaded {package} {version} to {host} (tags: {', '.join(release_tags)})")
    click.echo(f"template URL: {host}/{package}/{release_tags[0]}")
