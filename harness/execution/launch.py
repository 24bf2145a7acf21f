"""Multi-process training jobs through ``accelerate launch`` (DDP, FSDP or DeepSpeed, as configured).

The driver (the ``harness reproduce`` process) starts ``accelerate launch --config_file CONFIG
--num_processes N -m harness.execution.jobs JOB`` and streams its output into ``OUTPUT/job.log`` and
the run's log. The shipped ``ddp`` config names MULTI_GPU: on a GPU machine that is DDP over NCCL, one
process per GPU; on a CPU the trainers ask accelerate for the CPU, which makes it DDP over gloo. Every
process dies with its parent (``PR_SET_PDEATHSIG``), so a ``kill -9`` of the driver leaves no
orphan writing into the job's folder; a re-run resumes from the job's newest checkpoint.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.execution.jobs import RESULT_FILE, TrainingJobError, die_with_parent
from harness.execution.settings import ExecutionSettings, accelerate_config_path

LOG_FILE = "job.log"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the job's rendezvous port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(job_file: Path, settings: ExecutionSettings) -> list[str]:
    """The ``accelerate launch`` command line for ``job_file`` with the recipe's execution settings."""
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(accelerate_config_path(settings.accelerate_config)),
        "--num_processes", str(settings.train_processes),
        "--num_machines", "1",
        "--main_process_port", str(free_port()),
        "-m", "harness.execution.jobs", str(job_file),
    ]  # fmt: skip


def launch_job(job_file: Path, settings: ExecutionSettings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the job in ``job_file`` on ``settings.train_processes`` processes and return its result.

    A failed job raises :class:`TrainingJobError` with the exit code and the last lines of its log."""
    import json

    out = job_file.parent
    (out / RESULT_FILE).unlink(missing_ok=True)
    env = dict(os.environ)
    # Split the cores between the processes: N processes x all cores each spin on each other.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // settings.train_processes)))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    if not torch.cuda.is_available():
        # DDP over gloo names the device "cpu:0", which torch.load cannot map a checkpoint to (a resumed
        # job fails restoring its optimizer); plain "cpu" is the same device with a name it knows.
        env.setdefault("ACCELERATE_TORCH_DEVICE", "cpu")
    cmd = launch_command(job_file, settings)
    log(f"  training job: {settings.train_processes} processes, {Path(cmd[4]).name} ({out / LOG_FILE})")
    tail: deque[str] = deque(maxlen=40)
    with open(out / LOG_FILE, "a", encoding="utf-8") as logfile:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=die_with_parent)  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            logfile.write(line)
            logfile.flush()
            tail.append(line.rstrip())
            if line.startswith("{") and "loss" in line:  # the trainers' log lines
                log(f"    {line.rstrip()}")
        code = proc.wait()
    if code != 0 or not (out / RESULT_FILE).exists():
        raise TrainingJobError(f"training job {job_file} failed (exit code {code}); re-run the same command to resume "
                               f"from its last checkpoint once the cause is fixed. Its log ends with:\n" + "\n".join(tail))
    return json.loads((out / RESULT_FILE).read_text())
