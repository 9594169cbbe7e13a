"""Diagrams of the machine, drawn from the same table it runs.

`build_model` turns `states.TRANSITIONS` (and, for a trace, a run's counts)
into a tiny intermediate model; `to_mermaid` and `to_dot` are pure renderers
of that model, tested on hand-built models.  They emit everything in table
order with no timestamps or paths, so the same table always gives the same
bytes.  Only `render_image` needs Graphviz's `dot` binary.

A trigger that leaves every non-terminal state for one destination (`fault`,
`shutdown`) is drawn once, from a group node listing those states, instead
of as one arrow per state.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fsm_distributor import states
from fsm_distributor.states import State, Transition
from fsm_distributor.tools.trace import TraceStats, format_seconds, format_table, parse_lines

TEXT_FORMATS = ("mermaid", "dot")
IMAGE_FORMATS = ("svg", "png")
SUFFIXES = {".mmd": "mermaid", ".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}
FONT = "DejaVu Sans"  # named, so the SVG does not depend on which fonts happen to be installed
MISSING_DOT = ("Graphviz's `dot` program was not found on PATH; it draws svg/png diagrams. "
               "Install the Debian package graphviz: apt-get install -y graphviz "
               "(mermaid and dot output need no binary).")

#: (fill, border) per concern; concerns not listed here take FALLBACK colours in order.
PALETTE = {
    "waiting": ("#e3eefa", "#3b6ea8"),
    "discovery": ("#e2f4e8", "#2f7d4a"),
    "selection": ("#fff3d6", "#a87a12"),
    "sending": ("#efe4fa", "#6d44a8"),
    "recovery": ("#fbe3e3", "#a83b3b"),
    "terminal": ("#e6e6e6", "#4d4d4d"),
}
FALLBACK = (("#e0f5f5", "#2a8080"), ("#f5e0ee", "#a02a78"), ("#eeeeda", "#6e6e2a"))
HIGHLIGHT = "#d62728"
DIM_LINE, DIM_TEXT, DIM_FILL = "#c8c8c8", "#a0a0a0", "#f5f5f5"


@dataclass(frozen=True)
class Node:
    name: str
    concern: str
    description: str = ""
    initial: bool = False
    terminal: bool = False
    highlight: bool = False
    seconds: float | None = None  # time spent in the state, in trace diagrams
    dimmed: bool = False


@dataclass(frozen=True)
class Edge:
    source: str  # a node, or a group standing for each of its members
    dest: str
    trigger: str
    condition: str | None = None  # shown where it decides the branch: "not retries_left"
    count: int | None = None  # times fired, in trace diagrams
    dimmed: bool = False
    note: str = ""  # the table's note: a tooltip in svg

    @property
    def label(self) -> str:
        text = self.trigger if self.condition is None else f"{self.trigger} [{self.condition}]"
        return text if self.count is None else f"{text} ×{self.count}"


@dataclass(frozen=True)
class Group:
    """A pseudo-node: an edge from it means one edge from each member."""

    name: str
    title: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class DiagramModel:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    groups: tuple[Group, ...] = ()


GROUP_NAME = "AnyActiveState"
#: A row from at least MIN_GROUP states, missing at most MAX_LEFT_OUT active ones, is grouped.
MIN_GROUP = 6
MAX_LEFT_OUT = 3
TITLE = "fsm_distributor: generated from states.TRANSITIONS by `make diagrams`, do not edit"


def _condition(t: Transition) -> str | None:
    if t.condition:
        return t.condition
    return f"not {t.unless}" if t.unless else None


def build_model(transitions: Sequence[Transition] = states.TRANSITIONS, *,
                highlight: str | None = None, trace: TraceStats | None = None,
                title: str = TITLE) -> DiagramModel:
    """The diagram of `transitions`; with `trace`, edges carry counts and nodes times."""
    active = tuple(s.value for s in State if s not in states.TERMINAL)
    sources: dict[tuple[str, str, str | None], list[str]] = {}
    for t in transitions:
        sources.setdefault((t.trigger, t.dest.value, _condition(t)), []).append(t.source.value)
    # A row that leaves (nearly) every active state is drawn once, from a group node.
    group_of: dict[tuple[str, str, str | None], Group] = {}
    for key, found in sources.items():
        missing = [s for s in active if s not in found]
        if len(active) > 2 and len(found) >= MIN_GROUP and len(missing) <= MAX_LEFT_OUT \
                and set(found) <= set(active):
            group_of[key] = _group(tuple(s for s in active if s in found), missing)
    groups_by_name = {g.name: g for g in group_of.values()}

    def count(source: str, trigger: str, dest: str) -> int | None:
        if trace is None:
            return None
        members = groups_by_name[source].members if source in groups_by_name else (source,)
        return sum(trace.counts.get((m, trigger, dest), 0) for m in members)

    if highlight is not None and highlight not in {s.value for s in State}:
        raise ValueError(f"cannot highlight {highlight!r}: not a state")
    edges: list[Edge] = []
    for t in transitions:
        key = (t.trigger, t.dest.value, _condition(t))
        source = group_of[key].name if key in group_of else t.source.value
        if key in group_of and key in {(e.trigger, e.dest, e.condition) for e in edges}:
            continue  # a group edge stands for all its members' rows: draw it once
        n = count(source, t.trigger, t.dest.value)
        edges.append(Edge(source, t.dest.value, t.trigger, _condition(t), n, n == 0, t.note))
    # Group edges go last: the table's own branches read first, top to bottom.
    edges.sort(key=lambda e: e.source in groups_by_name)

    nodes = tuple(
        Node(s.value, states.CONCERNS[s], states.DESCRIPTIONS[s],
             initial=s is states.INITIAL, terminal=s in states.TERMINAL,
             highlight=s.value == highlight,
             seconds=None if trace is None else trace.seconds.get(s.value),
             dimmed=trace is not None and s.value not in trace.seconds)
        for s in State)
    groups = tuple(sorted(groups_by_name.values(), key=lambda g: -len(g.members)))
    return DiagramModel(title, nodes, tuple(edges), groups)


def _group(members: tuple[str, ...], missing: Sequence[str]) -> Group:
    """`AnyActiveState` for every non-terminal state; `AnyStateExcept<Names>` otherwise."""
    terminal = [s.value for s in State if s in states.TERMINAL]
    if not missing:
        return Group(GROUP_NAME, f"any state except {', '.join(terminal)}", members)
    return Group("AnyStateExcept" + "".join(missing), f"any state except {', '.join(terminal + list(missing))}",
                 members)


def _concern_colours(model: DiagramModel) -> dict[str, tuple[str, str]]:
    """Colours per concern in order of first appearance, so output is stable."""
    colours: dict[str, tuple[str, str]] = {}
    spare = iter(FALLBACK * (1 + len(model.nodes) // len(FALLBACK)))
    for node in model.nodes:
        if node.concern not in colours:
            colours[node.concern] = PALETTE.get(node.concern) or next(spare)
    return colours


def _chunks(names: Sequence[str], size: int = 3) -> list[str]:
    return [", ".join(names[i:i + size]) for i in range(0, len(names), size)]


def to_mermaid(model: DiagramModel) -> str:
    """Mermaid stateDiagram-v2 text: one class per concern, groups as described pseudo-states."""
    out = ["stateDiagram-v2", f"    %% {model.title}"]
    colours = _concern_colours(model)
    for concern, (fill, line) in colours.items():
        out.append(f"    classDef {concern} fill:{fill},stroke:{line},color:#1a1a1a")
    if model.groups:
        out.append("    classDef group fill:#ffffff,stroke:#666666,stroke-dasharray:5 5,color:#333333")
    if any(n.dimmed for n in model.nodes):
        out.append(f"    classDef dimmed fill:{DIM_FILL},stroke:{DIM_LINE},color:{DIM_TEXT}")
    if any(n.highlight for n in model.nodes):
        out.append(f"    classDef highlight stroke:{HIGHLIGHT},stroke-width:4px")
    out.append("")
    out += [f"    [*] --> {n.name}" for n in model.nodes if n.initial]
    for n in model.nodes:  # a lone description would replace the name, so name it first
        if n.seconds is not None:
            out += [f'    state "{n.name}" as {n.name}', f"    {n.name} : {format_seconds(n.seconds)}"]
    for group in model.groups:
        out.append(f'    state "{group.title}" as {group.name}')
        out += [f"    {group.name} : {chunk}" for chunk in _chunks(group.members)]
    out += [f"    {e.source} --> {e.dest} : {e.label}" for e in model.edges]
    out += [f"    {n.name} --> [*]" for n in model.nodes if n.terminal]
    out.append("")
    for concern in colours:
        out.append(f"    class {','.join(n.name for n in model.nodes if n.concern == concern)} {concern}")
    if model.groups:
        out.append(f"    class {','.join(g.name for g in model.groups)} group")
    for flag in ("dimmed", "highlight"):
        names = [n.name for n in model.nodes if getattr(n, flag)]
        if names:
            out.append(f"    class {','.join(names)} {flag}")
    return "\n".join(out) + "\n"


def _q(text: str) -> str:
    """A Graphviz double-quoted string; newlines become centred line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**attrs: object) -> str:
    return "[" + ", ".join(f"{k}={_q(str(v))}" for k, v in attrs.items()) + "]"


def _dot_node(node: Node, fill: str, line: str) -> str:
    label = node.name if node.seconds is None else f"{node.name}\n{format_seconds(node.seconds)}"
    attrs: dict[str, object] = {"label": label, "fillcolor": fill, "color": line,
                                "tooltip": node.description or node.name}
    if node.dimmed:
        attrs.update(fillcolor=DIM_FILL, color=DIM_LINE, fontcolor=DIM_TEXT)
    if node.terminal:
        attrs["peripheries"] = 2
    if node.highlight:
        attrs.update(color=HIGHLIGHT, penwidth=3)
    return f"{_q(node.name)} {_attrs(**attrs)};"


def to_dot(model: DiagramModel) -> str:
    """Graphviz dot text: one cluster per concern, initial point, final bullseye."""
    graph = _attrs(label=model.title, labelloc="t", fontname=FONT, fontsize=12,
                   rankdir="TB", nodesep=0.35, ranksep=0.45)
    out = [f"digraph {_q('fsm_distributor')} {{",
           f"    graph {graph};",
           f"    node {_attrs(shape='box', style='rounded,filled', fontname=FONT, fontsize=11)};",
           f"    edge {_attrs(fontname=FONT, fontsize=9, color='#555555')};"]
    colours = _concern_colours(model)
    for concern, (fill, line) in colours.items():
        out.append(f"    subgraph {_q('cluster_' + concern)} {{")
        cluster = _attrs(label=concern, style="rounded,dashed", color=line, fontcolor=line, fontsize=10)
        out.append(f"        graph {cluster};")
        out += [f"        {_dot_node(n, fill, line)}" for n in model.nodes if n.concern == concern]
        out.append("    }")
    for group in model.groups:
        label = "\n".join([group.title] + _chunks(group.members))
        note = _attrs(label=label, shape="note", style="dashed", color="#666666", fontsize=9)
        out.append(f"    {_q(group.name)} {note};")
    for i, node in enumerate(n for n in model.nodes if n.initial):
        out.append(f"    {_q(f'__initial{i}')} {_attrs(shape='point', width=0.18, label='')};")
        out.append(f"    {_q(f'__initial{i}')} -> {_q(node.name)};")
    # Returns to the start are left out of ranking: otherwise dot pulls the
    # initial state below every state that can go back to it.
    start = {n.name for n in model.nodes if n.initial}
    for edge in model.edges:
        attrs: dict[str, object] = {"label": edge.label}
        if edge.note:
            attrs["tooltip"] = edge.note
        if edge.dest in start and edge.source != edge.dest:
            attrs["constraint"] = "false"
        if edge.source in {g.name for g in model.groups}:
            attrs["style"] = "dashed"
        if edge.dimmed:
            attrs.update(color=DIM_LINE, fontcolor=DIM_TEXT)
        elif edge.count:
            attrs["penwidth"] = 2
        out.append(f"    {_q(edge.source)} -> {_q(edge.dest)} {_attrs(**attrs)};")
    for i, node in enumerate(n for n in model.nodes if n.terminal):
        bullseye = _attrs(shape="doublecircle", style="filled", fillcolor="#333333", width=0.12, label="")
        out.append(f"    {_q(f'__final{i}')} {bullseye};")
        out.append(f"    {_q(node.name)} -> {_q(f'__final{i}')};")
    out.append("}")
    return "\n".join(out) + "\n"


class GraphvizMissing(RuntimeError):
    """Drawing an image needs the `dot` binary (Debian package graphviz)."""


def render_image(dot_source: str, fmt: str) -> bytes:
    """Draw `dot_source` as svg or png with Graphviz's `dot`."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"image format must be one of {IMAGE_FORMATS}, not {fmt!r}")
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(MISSING_DOT)
    done = subprocess.run([exe, f"-T{fmt}"], input=dot_source.encode("utf-8"),
                          capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def render(model: DiagramModel, fmt: str) -> bytes:
    """`model` in any supported format, as the bytes of a file."""
    if fmt == "mermaid":
        return to_mermaid(model).encode("utf-8")
    dot = to_dot(model)
    return dot.encode("utf-8") if fmt == "dot" else render_image(dot, fmt)


#: What `make diagrams` writes and the tests compare with the committed files.
COMMITTED = (("machine.mmd", "mermaid"), ("machine.dot", "dot"), ("machine.svg", "svg"))


def write_all(directory: str | Path) -> list[Path]:
    """Regenerate the committed diagrams; nothing is written unless all could be drawn."""
    model = build_model()
    contents = [(Path(directory) / name, render(model, fmt)) for name, fmt in COMMITTED]
    Path(directory).mkdir(parents=True, exist_ok=True)
    for path, data in contents:
        path.write_bytes(data)
    return [path for path, _ in contents]


def _state(text: str) -> str:
    for s in State:
        if text.lower() in (s.value.lower(), s.name.lower()):
            return s.value
    raise argparse.ArgumentTypeError(
        f"unknown state {text!r}; one of: {', '.join(s.value for s in State)}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fsm-distributor diagram",
        description="Draw the distributor's state machine from its transition table.")
    p.add_argument("--format", choices=TEXT_FORMATS + IMAGE_FORMATS,
                   help="output format (default: from --out's suffix, else mermaid)")
    p.add_argument("--out", metavar="PATH", help="write here instead of stdout (needed for png)")
    p.add_argument("--highlight", metavar="STATE", type=_state, help="mark one state")
    p.add_argument("--trace", metavar="LOGFILE",
                   help="the agent's JSON log of a run ('-' for stdin): label edges with how "
                        "often they fired and states with time spent, and print the counts")
    p.add_argument("--write-all", metavar="DIR",
                   help="regenerate machine.mmd, machine.dot and machine.svg in DIR")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The `diagram` subcommand; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.write_all:
            if args.format or args.out or args.highlight or args.trace:
                parser.error("--write-all draws the plain machine; it takes no other option")
            for path in write_all(args.write_all):
                print(f"wrote {path}")
            return 0

        fmt = args.format or SUFFIXES.get(Path(args.out).suffix.lower() if args.out else "", "mermaid")
        if fmt == "png" and not args.out:
            parser.error("png is binary: give --out PATH")
        stats = _read_trace(args.trace) if args.trace else None
        log_name = "stdin" if args.trace == "-" else Path(args.trace or "").name
        title = TITLE if stats is None else f"fsm_distributor: trace of {log_name}"
        data = render(build_model(highlight=args.highlight, trace=stats, title=title), fmt)
    except (GraphvizMissing, OSError) as exc:
        print(f"fsm-distributor diagram: {exc}", file=sys.stderr)
        return 1

    if args.out:
        Path(args.out).write_bytes(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    if stats is not None:  # the table goes where it does not mix with a diagram on stdout
        print(format_table(stats), end="", file=sys.stdout if args.out else sys.stderr)
    return 0


def _read_trace(name: str) -> TraceStats:
    """Parse a log file; undecodable bytes make a skipped line, not a crash."""
    if name == "-":
        return parse_lines(sys.stdin)
    with open(name, encoding="utf-8", errors="replace") as log:
        return parse_lines(log)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
