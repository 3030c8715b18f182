"""TensorFlow's C++ log is quiet unless asked for, including the lines it writes while it loads."""

import os
import subprocess
import sys

from recs_pipeline.core.tf_runtime import shown_lines

LOADING = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796185525.483041   27780 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1796185525.671982   27780 cpu_feature_guard.cc:227] This TensorFlow binary is optimized
To enable the following instructions: AVX2 AVX512F, in other operations, rebuild TensorFlow
W0000 00:00:1796185539.836775   27780 x.cc:52] a warning
E0000 00:00:1796185539.836775   27780 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)
2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not find cuda drivers
"""


def test_lines_written_while_loading_are_kept_by_level_with_their_continuations():
    starts = {level: [line.split(" ")[0] for line in shown_lines(LOADING, level)] for level in range(4)}
    assert len(starts[0]) == 7
    assert starts[1] == ["W0000", "E0000"]
    assert starts[2] == ["E0000"]
    assert starts[3] == []
    assert shown_lines("a Python warning\n", 3) == ["a Python warning\n"]  # not TensorFlow's: always kept


def test_importing_tensorflow_prints_nothing_by_default_and_everything_when_asked():
    code = "from recs_pipeline.core.tf_runtime import tf; tf.config.list_physical_devices(); print('ready')"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert quiet.returncode == 0 and quiet.stdout == "ready\n"
    assert quiet.stderr == "", quiet.stderr
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"},
                          timeout=300, check=False)
    assert loud.returncode == 0 and "I0000" in loud.stderr  # a user's own setting wins
