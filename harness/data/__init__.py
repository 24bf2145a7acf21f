"""Versioned datasets: schemas, dataset folders, the local/Hub registry, data cards and converters.

Entry points: :func:`harness.data.build.build` (expert trajectories and tasks from an environment),
:mod:`harness.data.folder` (write/load verified splits), :func:`harness.data.registries.make_registry`
(publish, download, list), :mod:`harness.data.cards`, :mod:`harness.data.importers` (FastChat JSON)
and :mod:`harness.data.trl_format` (TRL SFT and preference rows). Submodules are imported on use so
``import harness.data`` stays light.
"""
