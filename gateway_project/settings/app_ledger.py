"""Settings owned by the ledger module (all from the environment; see the README's configuration table)."""

from .env import env, env_bool, env_float, env_int, env_list  # noqa: F401
