"""Diagrams: renderers on hand-built models, the real table against its parsed
Mermaid, the committed files against a fresh regeneration, and the CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from fsm_distributor.tools import diagram

from fsm_distributor import states
from fsm_distributor.tools.diagram import DiagramModel, Edge, Group, Node
from fsm_distributor.states import State
from fsm_distributor.tools.trace import TraceStats

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "diagrams"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="no Graphviz `dot`: apt-get install -y graphviz")


# --- a small parser for the Mermaid we emit: what a reader of the file sees ---

@dataclass
class ParsedMermaid:
    edges: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # expanded
    initial: set[str] = field(default_factory=set)
    final: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # every id used, groups excluded
    classes: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)


ARROW = re.compile(r"^(\S+) --> (\S+)(?: : (.+))?$")
ALIAS = re.compile(r'^state "([^"]*)" as (\w+)$')
CLASS = re.compile(r"^class ([\w,]+) (\w+)$")
DESCRIPTION = re.compile(r"^(\w+) : (.+)$")
LABEL = re.compile(r"^(\w+)(?: \[((?:not )?\w+)\])?(?: ×(\d+))?$")


def parse_mermaid(text: str) -> ParsedMermaid:
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    parsed = ParsedMermaid()
    arrows, descriptions = [], {}
    for raw in lines[1:]:
        line = raw.strip()
        if not line or line.startswith("%%") or line.startswith("classDef "):
            continue
        if m := ARROW.match(line):
            arrows.append(m.groups())
        elif m := ALIAS.match(line):
            parsed.names.add(m[2])
        elif m := CLASS.match(line):
            for name in m[1].split(","):
                parsed.classes.setdefault(name, []).append(m[2])
        elif m := DESCRIPTION.match(line):
            descriptions.setdefault(m[1], []).append(m[2])
        else:
            raise AssertionError(f"line the parser does not know: {raw!r}")
    for name, classes in parsed.classes.items():
        if "group" in classes:
            parsed.groups[name] = [s for d in descriptions[name] for s in d.split(", ")]
    for source, dest, label in arrows:
        if source == "[*]":
            parsed.initial.add(dest)
        elif dest == "[*]":
            parsed.final.add(source)
        else:
            m = LABEL.match(label or "")
            assert m, f"unreadable edge label {label!r}"
            for s in parsed.groups.get(source, [source]):
                parsed.edges.append((s, m[1], dest, m[2]))
    parsed.names |= {n for e in parsed.edges for n in (e[0], e[2])}
    parsed.names |= parsed.initial | parsed.final | set(parsed.classes)
    parsed.names -= set(parsed.groups)
    return parsed


def table_edges(transitions=states.TRANSITIONS) -> list[tuple[str, str, str, str | None]]:
    return [(t.source.value, t.trigger.value, t.dest.value,
             t.condition or (f"not {t.unless}" if t.unless else None)) for t in transitions]


# --- renderers on hand-built models ---

def tiny_model(**node_changes) -> DiagramModel:
    nodes = (Node("Start", "wait", "where it begins", initial=True),
             Node("Work", "busy", 'says "hi" \\ back'),
             Node("End", "final", terminal=True))
    nodes = tuple(replace(n, **node_changes.get(n.name, {})) for n in nodes)
    edges = (Edge("Start", "Work", "go", note="why we go"),
             Edge("Work", "Start", "again", "tries_left"),
             Edge("Work", "End", "again", "not tries_left"),
             Edge("Any", "End", "halt"))
    return DiagramModel("tiny", nodes, edges, (Group("Any", "any but End", ("Start", "Work")),))


def test_mermaid_of_a_hand_built_model_is_exactly_this():
    expected = """stateDiagram-v2
    %% tiny
    classDef wait fill:#e0f5f5,stroke:#2a8080,color:#1a1a1a
    classDef busy fill:#f5e0ee,stroke:#a02a78,color:#1a1a1a
    classDef final fill:#eeeeda,stroke:#6e6e2a,color:#1a1a1a
    classDef group fill:#ffffff,stroke:#666666,stroke-dasharray:5 5,color:#333333

    [*] --> Start
    state "any but End" as Any
    Any : Start, Work
    Start --> Work : go
    Work --> Start : again [tries_left]
    Work --> End : again [not tries_left]
    Any --> End : halt
    End --> [*]

    class Start wait
    class Work busy
    class End final
    class Any group
"""
    assert diagram.to_mermaid(tiny_model()) == expected


def test_mermaid_marks_highlight_dimmed_and_time_in_state():
    model = tiny_model(Work={"highlight": True, "seconds": 2.25},
                       End={"dimmed": True})
    text = diagram.to_mermaid(model)
    assert "classDef highlight stroke:#d62728,stroke-width:4px" in text
    assert "    class Work highlight\n" in text
    assert "    class End dimmed\n" in text
    # the time is a description under the name, not instead of it
    assert '    state "Work" as Work\n    Work : 2.2 s\n' in text
    assert "highlight" not in diagram.to_mermaid(tiny_model())


def test_edge_labels_carry_condition_and_count():
    assert Edge("A", "B", "retry").label == "retry"
    assert Edge("A", "B", "retry", "not retries_left").label == "retry [not retries_left]"
    assert Edge("A", "B", "retry", "retries_left", count=3).label == "retry [retries_left] ×3"
    assert Edge("A", "B", "wake", count=0).label == "wake ×0"


def test_dot_of_a_hand_built_model_marks_concerns_start_end_and_group():
    text = diagram.to_dot(tiny_model(Work={"highlight": True}))
    assert text.startswith('digraph "fsm_distributor" {\n') and text.endswith("}\n")
    for concern in ("wait", "busy", "final"):
        assert f'subgraph "cluster_{concern}" {{' in text
    assert '"__initial0" -> "Start";' in text
    assert '"End" -> "__final0";' in text
    assert 'peripheries="2"' in re.search(r'^\s*"End" \[.*$', text, re.M)[0]
    assert 'penwidth="3"' in re.search(r'^\s*"Work" \[.*$', text, re.M)[0]
    assert '"Any" -> "End" [label="halt", style="dashed"];' in text
    assert 'label="any but End\\nStart, Work"' in text
    # a return to the start does not drag the start down the page; other edges rank
    assert '"Work" -> "Start" [label="again [tries_left]", constraint="false"];' in text
    assert '"Start" -> "Work" [label="go", tooltip="why we go"];' in text
    # quotes and backslashes in tooltips are escaped, not closing the string early
    assert 'tooltip="says \\"hi\\" \\\\ back"' in text


def test_dot_dims_unfired_edges_and_thickens_fired_ones():
    model = DiagramModel("t", (Node("A", "c", initial=True, seconds=1.5), Node("B", "c", dimmed=True)),
                         (Edge("A", "B", "go", count=0, dimmed=True), Edge("B", "A", "back", count=4)))
    text = diagram.to_dot(model)
    assert '"A" -> "B" [label="go ×0", color="#c8c8c8", fontcolor="#a0a0a0"];' in text
    assert '"B" -> "A" [label="back ×4", constraint="false", penwidth="2"];' in text
    assert 'label="A\\n1.5 s"' in text
    assert 'fontcolor="#a0a0a0"' in re.search(r'^\s*"B" \[.*$', text, re.M)[0]


@needs_dot
def test_dot_output_with_awkward_text_is_valid_graphviz():
    svg = diagram.render_image(diagram.to_dot(tiny_model()), "svg").decode()
    assert "<title>Work</title>" in svg and "&quot;hi&quot;" in svg


# --- the model built from the real table ---

def test_model_has_every_state_once_in_enum_order_with_start_and_end():
    model = diagram.build_model()
    assert [n.name for n in model.nodes] == [s.value for s in State]
    assert [n.name for n in model.nodes if n.initial] == [states.INITIAL.value]
    assert {n.name for n in model.nodes if n.terminal} == {s.value for s in states.TERMINAL}
    assert all(n.concern == states.CONCERNS[State(n.name)] for n in model.nodes)


def test_fault_and_shutdown_are_drawn_once_from_groups_of_the_states_they_leave():
    model = diagram.build_model()
    groups = {g.name: g for g in model.groups}
    active = tuple(s.value for s in State if s not in states.TERMINAL)
    assert groups[diagram.GROUP_NAME].members == active
    stoppable = tuple(s for s in active if State(s) not in states.FINISH_BEFORE_STOP)
    [shutdown_group] = [g for g in model.groups if g.name != diagram.GROUP_NAME]
    assert shutdown_group.members == stoppable
    assert "Relaying" in shutdown_group.title and "Recording" in shutdown_group.title
    grouped = [(e.source, e.trigger, e.dest) for e in model.edges if e.source in groups]
    assert grouped == [(diagram.GROUP_NAME, "fault", "Idle"), (shutdown_group.name, "shutdown", "Stopped")]
    assert not any(e.trigger in ("fault", "shutdown") for e in model.edges if e.source not in groups)


def test_a_trigger_from_few_states_is_not_grouped_and_a_group_lists_exactly_its_sources():
    table = tuple(t for t in states.TRANSITIONS
                  if not (t.trigger == "fault" and t.source is State.BUILDING))
    model = diagram.build_model(table)
    [fault_edge] = [e for e in model.edges if e.trigger == "fault"]
    group = next(g for g in model.groups if g.name == fault_edge.source)
    assert State.BUILDING.value not in group.members and group.name == "AnyStateExceptBuilding"
    assert len(group.members) == len(State) - 2
    few = tuple(t for t in states.TRANSITIONS if not (t.trigger == "fault" and t.source.value in
                                                    ("Idle", "Discovering", "Building", "Relaying")))
    faults = [e.source for e in diagram.build_model(few).edges if e.trigger == "fault"]
    assert len(faults) == len(State) - 1 - 4, "four states left out: drawn one edge per state"


def test_model_with_trace_counts_edges_times_states_and_dims_the_rest():
    stats = TraceStats(counts={("Idle", "wake", "Discovering"): 2, ("Building", "fault", "Idle"): 1,
                               ("Retrying", "fault", "Idle"): 2},
                       seconds={"Idle": 10.0, "Discovering": 0.5})
    model = diagram.build_model(trace=stats)
    by_key = {(e.source, e.trigger, e.dest): e for e in model.edges}
    assert by_key[("Idle", "wake", "Discovering")].count == 2
    assert not by_key[("Idle", "wake", "Discovering")].dimmed
    assert by_key[(diagram.GROUP_NAME, "fault", "Idle")].count == 3  # summed over members
    assert by_key[("Idle", "keep_waiting", "Idle")].dimmed
    nodes = {n.name: n for n in model.nodes}
    assert nodes["Idle"].seconds == 10.0 and not nodes["Idle"].dimmed
    assert nodes["Building"].seconds is None and nodes["Building"].dimmed


def test_highlight_marks_one_state_and_refuses_unknown_names():
    model = diagram.build_model(highlight="Retrying")
    assert [n.name for n in model.nodes if n.highlight] == ["Retrying"]
    with pytest.raises(ValueError, match="Nowhere"):
        diagram.build_model(highlight="Nowhere")


# --- the table against the parsed Mermaid ---

def test_parsed_mermaid_recovers_exactly_the_table():
    parsed = parse_mermaid(diagram.to_mermaid(diagram.build_model()))
    assert sorted(parsed.edges, key=str) == sorted(table_edges(), key=str)  # no loss, no duplicate
    assert parsed.names == {s.value for s in State}
    assert {e[1] for e in parsed.edges} == {t.trigger for t in states.TRANSITIONS}
    assert parsed.initial == {states.INITIAL.value}
    assert parsed.final == {s.value for s in states.TERMINAL}
    for s in State:
        assert states.CONCERNS[s] in parsed.classes[s.value]


def test_the_table_check_catches_a_dropped_edge_or_group_member():
    model = diagram.build_model()
    dropped = replace(model, edges=tuple(e for e in model.edges if e.trigger != "wake"))
    assert sorted(parse_mermaid(diagram.to_mermaid(dropped)).edges, key=str) != sorted(table_edges(), key=str)
    group, *others = model.groups
    short = replace(model, groups=(replace(group, members=group.members[1:]), *others))
    assert sorted(parse_mermaid(diagram.to_mermaid(short)).edges, key=str) != sorted(table_edges(), key=str)


def test_committed_mermaid_is_the_table():
    parsed = parse_mermaid((COMMITTED / "machine.mmd").read_text(encoding="utf-8"))
    assert sorted(parsed.edges, key=str) == sorted(table_edges(), key=str)
    assert parsed.names == {s.value for s in State}


# --- committed files against a fresh regeneration ---

def test_committed_text_diagrams_match_the_table(tmp_path):
    model = diagram.build_model()
    assert (COMMITTED / "machine.mmd").read_bytes() == diagram.to_mermaid(model).encode(), \
        "diagrams/machine.mmd is stale: run `make diagrams`"
    assert (COMMITTED / "machine.dot").read_bytes() == diagram.to_dot(model).encode(), \
        "diagrams/machine.dot is stale: run `make diagrams`"


def _graphviz_version(text: str) -> str | None:
    m = re.search(r"graphviz version (\S+)", text)
    return m and m[1]


@needs_dot
def test_committed_svg_matches_a_regeneration(tmp_path):
    committed = (COMMITTED / "machine.svg").read_bytes()
    installed = subprocess.run(["dot", "-V"], capture_output=True, text=True).stderr
    if _graphviz_version(committed.decode()) != _graphviz_version(installed):
        pytest.skip(f"machine.svg was drawn by another Graphviz than {installed.strip()}")
    written = diagram.write_all(tmp_path)
    assert [p.name for p in written] == ["machine.mmd", "machine.dot", "machine.svg"]
    for path in written:
        assert path.read_bytes() == (COMMITTED / path.name).read_bytes(), \
            f"diagrams/{path.name} is stale: run `make diagrams`"
    svg = committed.decode()
    assert all(f"<title>{s.value}</title>" in svg for s in State)
    assert "/work" not in svg and "/tmp" not in svg


@needs_dot
def test_write_all_is_byte_stable(tmp_path):
    first = [p.read_bytes() for p in diagram.write_all(tmp_path / "a")]
    second = [p.read_bytes() for p in diagram.write_all(tmp_path / "b")]
    assert first == second


# --- Graphviz missing ---

def test_missing_dot_is_a_clear_error_naming_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no dot on PATH
    with pytest.raises(diagram.GraphvizMissing, match=r"apt-get install -y graphviz"):
        diagram.render_image("digraph {}", "svg")
    out = tmp_path / "m.svg"
    assert diagram.main(["--format", "svg", "--out", str(out)]) == 1
    assert "graphviz" in capsys.readouterr().err and not out.exists()
    # Mermaid and dot text need no binary
    assert diagram.main(["--format", "mermaid", "--out", str(tmp_path / "m.mmd")]) == 0
    assert (tmp_path / "m.mmd").read_bytes() == (COMMITTED / "machine.mmd").read_bytes()


def test_write_all_writes_nothing_when_dot_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(diagram.GraphvizMissing):
        diagram.write_all(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_render_image_refuses_text_formats():
    with pytest.raises(ValueError):
        diagram.render_image("digraph {}", "mermaid")


# --- the CLI ---

def test_cli_mermaid_on_stdout_is_exactly_the_committed_file(capsysbinary):
    assert diagram.main(["--format", "mermaid"]) == 0
    assert capsysbinary.readouterr().out == (COMMITTED / "machine.mmd").read_bytes()


def test_module_entry_point_prints_the_committed_mermaid():
    done = subprocess.run([sys.executable, "-m", "fsm_distributor.tools.diagram", "--format", "mermaid"],
                          cwd=ROOT, capture_output=True, check=True)
    assert done.stdout == (COMMITTED / "machine.mmd").read_bytes()


def test_cli_defaults_to_mermaid_and_infers_format_from_suffix(tmp_path, capsysbinary):
    assert diagram.main([]) == 0
    assert capsysbinary.readouterr().out.startswith(b"stateDiagram-v2\n")
    assert diagram.main(["--out", str(tmp_path / "m.dot")]) == 0
    assert (tmp_path / "m.dot").read_bytes() == (COMMITTED / "machine.dot").read_bytes()


def test_cli_highlight_accepts_any_case_and_rejects_unknown_states(capsys):
    assert diagram.main(["--format", "mermaid", "--highlight", "building"]) == 0
    assert "    class Building highlight\n" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        diagram.main(["--highlight", "Nowhere"])
    assert exc.value.code == 2 and "SelectingMiner" in capsys.readouterr().err


def test_cli_refuses_png_on_stdout_and_write_all_with_options(capsys):
    for argv in (["--format", "png"], ["--write-all", "x", "--highlight", "Idle"]):
        with pytest.raises(SystemExit) as exc:
            diagram.main(argv)
        assert exc.value.code == 2


def _log(path: Path) -> Path:
    def tr(source, trigger, dest, stamp):
        return json.dumps({"event": "transition", "from": source, "to": dest,
                           "trigger": trigger, "timestamp": stamp}).encode()
    path.write_bytes(b"\n".join([
        b"Monerosim: starting agent distributor",
        b'{"event": "started", "timestamp": 100.0}',
        tr("Idle", "wake", "Discovering", 104.0),
        tr("Discovering", "no_miners", "Idle", 104.5),
        b"\xff\xfe not utf-8",
        tr("Idle", "legacy", "Nowhere", 110.0),
    ]) + b"\n")
    return path


@needs_dot
def test_cli_trace_draws_svg_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "trace.svg"
    log = _log(tmp_path / "run.log")
    assert diagram.main(["--trace", str(log), "--format", "svg", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^wake\s+Idle\s+Discovering\s+1$", printed, re.M)
    assert re.search(r"^legacy\s+Idle\s+Nowhere\s+1 \(not in table\)$", printed, re.M)
    assert re.search(r"^Idle\s+9\.5 s", printed, re.M)  # 4.0 before wake + 5.5 after no_miners
    assert "2 skipped (lines 1, 5)" in printed
    svg = out.read_text()
    assert "wake ×1" in svg and "keep_waiting ×0" in svg and "9.5 s" in svg
    assert str(tmp_path) not in svg  # the title names the log, not where it lives


def test_cli_trace_with_diagram_on_stdout_puts_the_table_on_stderr(tmp_path, capsys):
    assert diagram.main(["--trace", str(_log(tmp_path / "run.log"))]) == 0
    captured = capsys.readouterr()
    parse_mermaid(captured.out)  # stdout stays a clean diagram
    assert "no_miners ×1" in captured.out
    assert "count" in captured.err and "no_miners" in captured.err


def test_cli_trace_of_a_missing_file_fails_cleanly(tmp_path, capsys):
    assert diagram.main(["--trace", str(tmp_path / "absent.log")]) == 1
    assert "absent.log" in capsys.readouterr().err
