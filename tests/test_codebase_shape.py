"""The shape the codebase keeps (docs/architecture.md), checked on the source: what import-linter
(``make lint``) cannot see. Layers and model boundaries are import-linter's contracts."""

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

APPS = (
    "audit",
    "customers",
    "disputes",
    "events",
    "gateway",
    "ledger",
    "merchants",
    "orders",
    "payments",
    "processors",
    "reconciliation",
    "sandbox",
)
MAX_MODULE_LINES = 600
DYNAMIC_IMPORTS = {"import_module", "__import__", "import_string"}


def _app_modules() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (REPO_ROOT / app).rglob("*.py")
        if "migrations" not in path.relative_to(REPO_ROOT).parts
    )


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _name(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def test_the_checks_see_every_app():
    assert {path.relative_to(REPO_ROOT).parts[0] for path in _app_modules()} == set(APPS)


def test_no_app_reaches_another_through_dynamic_imports():
    # An importlib edge is invisible to grep and to import-linter; registration in AppConfig.ready
    # (see payments/apps.py) is the explicit way for a lower app to call a higher one.
    found = []
    for path in _app_modules():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "importlib" for alias in node.names):
                found.append(f"{_name(path)}:{node.lineno} import importlib")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "importlib":
                found.append(f"{_name(path)}:{node.lineno} from importlib")
            elif isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if called in DYNAMIC_IMPORTS:
                    found.append(f"{_name(path)}:{node.lineno} {called}()")
    assert found == []


def test_no_app_module_is_longer_than_the_limit():
    # One concern per module: past ~400 lines a module is split into a package by concern.
    too_long = {
        _name(path): n for path in _app_modules() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}


def test_tasks_are_imported_as_star_task():
    # HackSoft's convention: at the import site a task never looks like the service of the same name.
    found = []
    for path in _app_modules():
        if path.name == "tasks.py":
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "tasks":
                found += [
                    f"{_name(path)}:{node.lineno} {alias.name}"
                    for alias in node.names
                    if not (alias.asname or alias.name).endswith("_task")
                ]
    assert found == []


def test_payments_locks_rows_only_in_its_locks_module():
    # payments/locks.py holds every lock in the documented order; nothing else takes one.
    found = [
        f"{_name(path)}:{node.lineno}"
        for path in _app_modules()
        if path.parts[-2:] != ("payments", "locks.py") and "payments" in path.relative_to(REPO_ROOT).parts[:1]
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Attribute) and node.attr == "select_for_update"
    ]
    assert found == []


@pytest.mark.django_db
def test_the_payments_app_handles_processor_webhooks():
    from payments.services import payment_apply_webhook
    from processors.services import processor_webhook_handler

    assert processor_webhook_handler() is payment_apply_webhook
