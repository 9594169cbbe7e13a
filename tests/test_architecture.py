"""The layers as executable rules: import contracts, no import cycles, mypy, typed triggers.

docs/design.md ("Layers") says what each layer may import; pyproject.toml holds
the import-linter contracts and the mypy settings (strict on the agent layer).
"""

from __future__ import annotations

import ast
import inspect
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import grimp
import pytest

from fsm_distributor.actions import ACTIONS
from fsm_distributor.states import STATE_DATA, TERMINAL

ROOT = Path(__file__).resolve().parents[1]
AGENT = [ROOT / "fsm_distributor" / "states.py", ROOT / "fsm_distributor" / "machine.py",
         *sorted((ROOT / "fsm_distributor" / "actions").glob("*.py")),
         *sorted((ROOT / "fsm_distributor" / "core").glob("*.py"))]


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.timeout(600)
def test_the_import_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and " 0 broken" in result.stdout


@pytest.mark.timeout(600)
def test_mypy_passes_strict_on_the_agent_layer():
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout[-4000:]


def test_no_import_cycles_in_the_package():
    graph = grimp.build_graph("fsm_distributor")
    modules = sorted(graph.modules)
    imports = {m: set(graph.find_modules_directly_imported_by(m)) & set(modules) for m in modules}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in sorted(imports[module]):
            if state.get(other) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(other):] + [module, other]))
            if other not in state:
                visit(other, path + [module])
        state[module] = 2

    for module in modules:
        if module not in state:
            visit(module, [])


@pytest.mark.parametrize("path", AGENT, ids=lambda p: p.name)
def test_no_string_is_passed_as_a_trigger_in_the_agent(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Outcome":
            first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "trigger"), None)
            assert not isinstance(first, ast.Constant), f"{path.name}:{node.lineno}: Outcome({first.value!r})"


def test_each_action_takes_the_data_of_its_state():
    for state, action in ACTIONS.items():
        hints = typing.get_type_hints(action)
        data = list(inspect.signature(action).parameters)[2]
        expected = STATE_DATA[state]
        assert hints[data] is (type(None) if expected is None else expected), (state, action.__name__, hints[data])
    assert set(STATE_DATA) - set(ACTIONS) == set(TERMINAL)


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())"], cwd=root, capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})


@pytest.mark.timeout(600)
def test_the_contracts_catch_an_action_that_imports_an_adapter_or_another_action(tmp_path):
    shutil.copytree(ROOT / "fsm_distributor", tmp_path / "fsm_distributor",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    idle = tmp_path / "fsm_distributor" / "actions" / "idle.py"
    idle.write_text(idle.read_text() + "\nfrom fsm_distributor.adapters import logs  # noqa\n"
                    "from fsm_distributor.actions import retrying  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode != 0 and " 2 broken" in result.stdout, result.stdout[-2000:]
    assert "fsm_distributor.actions.idle -> fsm_distributor.adapters.logs" in result.stdout
