"""InterCodeSQL (Yang et al. 2023): interactive SQL over the Spider databases on SQLite or MariaDB."""

from harness.envs.intercode_sql.env import IntercodeSqlEnv, SqlWorld, load_world, make_intercode_sql

__all__ = ["IntercodeSqlEnv", "SqlWorld", "load_world", "make_intercode_sql"]
