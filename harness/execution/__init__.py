"""Where work runs: the execution seam (:mod:`~harness.execution.executor`), a recipe's ``execution:``
section (:mod:`~harness.execution.settings`), checkpointed chunk maps (:mod:`~harness.execution.checkpoints`)
and training jobs (:mod:`~harness.execution.jobs`, launched by :mod:`~harness.execution.launch`)."""
