"""`python -m recs_pipeline.cli`, as the tests and the image call it."""

from recs_pipeline.cli.commands import main

main()
