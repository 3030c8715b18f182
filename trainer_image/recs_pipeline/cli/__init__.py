"""`recs-pipeline`: the command line over the runtime package (the roof: nothing below imports it)."""

from recs_pipeline.cli.commands import PREEMPTED_EXIT_CODE, main

__all__ = ["PREEMPTED_EXIT_CODE", "main"]
