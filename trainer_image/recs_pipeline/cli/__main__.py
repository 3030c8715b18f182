"""`python -m recs_pipeline.cli`, as the tests and the image call it."""

import logging
import os
import sys

from recs_pipeline.cli.commands import PREEMPTED_EXIT_CODE, main

try:
    main()
except SystemExit as stop:
    if stop.code != PREEMPTED_EXIT_CODE:
        raise
    # Preempted: status and history are already written. Skip the interpreter's teardown
    # (TensorFlow's takes seconds on a busy machine), inside the grace period before SIGKILL.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(PREEMPTED_EXIT_CODE)
