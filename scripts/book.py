#!/usr/bin/env python3
"""Builds the book (make docs): the pages in reading order, then doxygen, warnings as errors.

    /usr/bin/python3 scripts/book.py --out build/book        # pages + Doxyfile into build/book, site into docs/html
    /usr/bin/python3 scripts/book.py --write-capabilities    # rewrite docs/capabilities.md's table from the registry

The sources stay plain, GitHub-readable markdown; doxygen reads copies written into OUT/pages:

- the pages, in order: docs/overview.md (the main page, "chapter 0"), then every chapter's
  README.md in chapters/registry.json order, then docs/protocol.md, design.md, capabilities.md,
  docs/results/bench.md (once make bench has written it), exercises.md and authoring.md; the API
  reference comes from the headers of common/;
- in a chapter page, a paragraph that names a region in bold, **`[name]`**, is followed by
  the code between the `// [name]` markers, found in the chapter's own directory only.
  Exercise scaffolding is left out: the page shows the reference code;
- docs/diagrams/NN-name.dot is drawn at the end of the chapter's "The model" section;
- a section "Measured by make bench" is added just before the chapter's "Exercises": its numbers
  from docs/results/ (bench.csv, bench.json) next to its nginx's and the kernel floor's, with the
  ratios, the date and machine of the run, a link to the results page, its plot
  (docs/results/chapter-NN-name.png, scripts/bench_plots.py) and its profile
  (profile-NN-name-*.png, make profile); IMAGE_PATH is docs/results. Without a run, the section
  says to run make bench;
- before it, a section "Attacks, with the tools that make them": the slowhttptest commands of
  make attacks and the verdicts of its last run (docs/results/attacks.json), with the claims;
- every page but the first links to the pages before and after it in reading order;
- a link to another page of the book becomes an @ref; a link to any other file of the
  repository becomes its text;
- the blocks between <!-- book:NAME --> and <!-- /book:NAME --> are generated: `contents` (the
  table of contents, from the registry), `capabilities` (the capability matrix, which must also
  match the committed one), `exercises` (every exercise, from the markers).

docs/authoring.md describes these conventions for whoever writes a chapter.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import exercise as exercises_tool  # noqa: E402
import markers  # noqa: E402
import bench_plots  # noqa: E402
import claims as claims_tool  # noqa: E402
from benchdata import FLOOR, Run, fmt_bytes, fmt_int, fmt_ms, fmt_ratio, fmt_us  # noqa: E402
from serverlib import load_registry  # noqa: E402

DOCS = REPO / "docs"
AFTER_CHAPTERS = ["protocol", "design", "capabilities", "results", "claims", "exercises", "authoring"]
RESULTS = DOCS / "results"  # what make bench wrote: bench.csv, bench.md (the "results" page), plots

# The capability columns, in the order the suite tests them; a key the registry adds later is
# shown under its own name.
CAPABILITIES = {
    "concurrent": "concurrent",
    "isolates_slow_clients": "isolates slow clients",
    "isolates_blocking_work": "isolates blocking work",
    "c10k": "10k connections",
    "multicore": "multicore",
    "responsive_past_capacity": "responsive past capacity",
}

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"(?<!!)\[((?:[^\[\]]|\[[^\]]*\])+)\]\(([^)\s]+)\)")
BOLD_MARKER = re.compile(r"\*\*`\[([a-z0-9-]+)\]`\*\*")
REGION_MARKER = re.compile(r"^\s*//\s*\[([a-z0-9-]+)\]\s*$")
TITLE = re.compile(r"^#\s+(.*?)\s*(?:\{#([\w-]+)\})?\s*$")


class BookError(Exception):
    pass


# --- pages ------------------------------------------------------------------------------------


class Page:
    """One page of the book: where its source is, its label, and its text once processed."""

    def __init__(self, source, label, kind, chapter=None):
        self.source = source  # a Path in the repository (may not exist for a chapter not written yet)
        self.label = label
        self.kind = kind  # "main", "chapter" or "doc"
        self.chapter = chapter  # the registry entry of a chapter page
        self.title = None
        self.text = source.read_text(encoding="utf-8") if source.exists() else None

    @property
    def out_name(self):
        return f"{self.label}.md"


def book_pages():
    pages = [Page(DOCS / "overview.md", "index", "main")]
    for entry in load_registry():
        pages.append(Page(REPO / "chapters" / entry["name"] / "README.md", f"chapter{entry['name'][:2]}",
                          "chapter", entry))
    pages += [Page(RESULTS / "bench.md" if name == "results" else DOCS / f"{name}.md", name, "doc")
              for name in AFTER_CHAPTERS]
    # The results page is there once make bench has run.
    pages = [page for page in pages if page.label != "results" or page.text is not None]
    for page in pages:
        if page.text is None and page.kind != "chapter":
            raise BookError(f"{page.source.relative_to(REPO)} is missing")
        if page.text is None:  # a chapter in the registry whose README is not written yet
            name = page.chapter["name"]
            page.text = (f"# Chapter {name[:2]}: {page.chapter['model']}\n\n"
                         f"This chapter is not written yet: `chapters/{name}/README.md` does not exist.\n")
        match = TITLE.match(page.text.split("\n", 1)[0])
        if not match:
            raise BookError(f"{page.source.relative_to(REPO)}: the first line must be a '# Title'")
        page.title = match[1]
        # The page's label: its own {#label} if it has one, else ours; the main page is "index".
        if match[2] and page.kind != "main":
            page.label = match[2]
        rest = page.text.partition("\n")[2]
        label = "" if page.kind == "main" else f" {{#{page.label}}}"
        page.text = f"# {page.title}{label}\n{rest}"
    return pages


def outside_code(text, transform):
    """Applies transform to every run of lines outside fenced code blocks."""
    out, chunk, in_fence = [], [], False
    for line in text.split("\n"):
        if FENCE.match(line):
            if not in_fence:
                out.append(transform("\n".join(chunk)))
                chunk = []
            in_fence = not in_fence
            out.append(line)
            continue
        (out if in_fence else chunk).append(line)
    out.append(transform("\n".join(chunk)))
    return "\n".join(part for part in out)


def rewrite_links(page, labels):
    """Links between pages become @ref; links to other repository files become their text."""
    base = page.source.parent

    def one(match):
        text, target = match[1], match[2]
        if re.match(r"^[a-z]+:", target) or target.startswith("#") or target.startswith("@ref"):
            return match[0]
        path = target.split("#", 1)[0]
        resolved = (base / path).resolve()
        if resolved in labels:
            return f"[{text}](@ref {labels[resolved]})"
        return text

    def spans(chunk):
        # Leave inline code alone: split on backtick spans, rewrite only the text between them.
        parts = re.split(r"(`[^`]*`)", chunk)
        return "".join(p if p.startswith("`") else LINK.sub(one, p) for p in parts)

    # A link's text may itself be inline code ([`x`](y)): handle those first, whole.
    def chunk_links(chunk):
        chunk = re.sub(r"(?<!!)\[(`[^`]+`)\]\(([^)\s]+)\)", one, chunk)
        return spans(chunk)

    page.text = outside_code(page.text, chunk_links)


CODE_SPAN = re.compile(r"(``.+?``|`(?:[^`\n]|\n(?!\n))*`)")
# A bold span, paired as markdown pairs them: "**" that opens (before a non-space), the nearest
# "**" that closes (after a non-space), code spans inside kept whole.
BOLD = re.compile(r"(?<![\w*])\*\*(?=[^\s*])((?:[^*`\n]|`[^`\n]+`)+?)(?<=\S)\*\*(?![\w*])")


def protect_code_spans(page):
    """Doxygen 1.9.4 does not see a code span that contains an apostrophe, and then reads its
    backslashes as commands: such spans become <code> with doxygen's escapes."""

    def escape(span):
        inner = span.strip("`").strip() if span.startswith("``") else span[1:-1]
        if "'" not in inner:
            return span
        for old, new in (("\\", "\\\\"), ("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("@", "\\@"),
                         ("%", "\\%"), ("#", "\\#"), ("*", "\\*"), ("_", "\\_")):
            inner = inner.replace(old, new)
        return f"<code>{inner}</code>"

    def chunk_spans(chunk):
        # Doxygen 1.9.4 leaves bold text with a code span in it (**`x`**) as literal asterisks.
        chunk = BOLD.sub(lambda m: f"<b>{m[1]}</b>" if "`" in m[1] else m[0], chunk)
        return CODE_SPAN.sub(lambda m: escape(m[0]), chunk)

    page.text = outside_code(page.text, chunk_spans)


def region_code(name, chapter_dir):
    """(file, code) of the region between the two `// [name]` markers in the chapter's own
    directory: a chapter quotes its own code (an earlier chapter's, if it builds on it, is that
    chapter's page to show). Exercise scaffolding is removed; the code is dedented."""
    found = []
    for path in sorted(chapter_dir.glob("*.cpp")) + sorted(chapter_dir.glob("*.hpp")):
        lines = markers.render(path).split("\n")
        marks = [i for i, line in enumerate(lines) if (m := REGION_MARKER.match(line)) and m[1] == name]
        if marks:
            found.append((path, lines, marks))
    if len(found) > 1:
        raise BookError(f"[{name}] is marked in several files: {', '.join(str(f[0].relative_to(REPO)) for f in found)}")
    if not found:
        raise BookError(f"{chapter_dir.relative_to(REPO)}/README.md quotes [{name}], but no file of the chapter "
                        f"has a `// [{name}]` marker pair")
    path, lines, marks = found[0]
    if len(marks) != 2:
        raise BookError(f"{path.relative_to(REPO)}: [{name}] must be marked exactly twice, found {len(marks)}")
    body = [line for line in lines[marks[0] + 1:marks[1]] if not REGION_MARKER.match(line)]
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    indent = min((len(line) - len(line.lstrip()) for line in body if line.strip()), default=0)
    return path, "\n".join(line[indent:] for line in body)


def inline_regions(page):
    """After each paragraph that names regions in bold (**`[name]`**), the code they name."""
    chapter_dir = page.source.parent

    def paragraphs(chunk):
        blocks = chunk.split("\n\n")
        out = []
        for block in blocks:
            out.append(block)
            for name in dict.fromkeys(BOLD_MARKER.findall(block)):
                path, code = region_code(name, chapter_dir)
                where = path.relative_to(REPO)
                out.append(f'<div class="book-snippet">{where}, between the <code>[{name}]</code> markers</div>\n'
                           f"```cpp\n{code}\n```")
        return "\n\n".join(out)

    page.text = outside_code(page.text, paragraphs)


def insert_diagram(page):
    """The chapter's diagram, at the end of its "The model" section (or after the title)."""
    name = page.chapter["name"]
    dot = DOCS / "diagrams" / f"{name}.dot"
    if not dot.exists():
        print(f"book: no diagram for {name} (docs/diagrams/{name}.dot)", file=sys.stderr)
        return
    caption = f"Chapter {name[:2]}: where a connection goes"
    for line in dot.read_text(encoding="utf-8").splitlines():
        if line.startswith("// Caption:"):
            caption = line.split(":", 1)[1].strip()
    figure = f'\\dotfile {name}.dot "{caption}"\n'
    lines = page.text.split("\n")
    model = next((i for i, l in enumerate(lines) if re.match(r"^##\s+The model", l)), None)
    if model is None:
        at = 1
    else:
        at = next((i for i in range(model + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    lines[at:at] = [figure] if model is None else ["", figure]
    page.text = "\n".join(lines)


def load_results():
    """The last make bench run, read back from docs/results/ (bench.csv and bench.json); None if
    it has not run."""
    if not (RESULTS / "bench.csv").exists() or not (RESULTS / "bench.json").exists():
        return None
    try:
        return Run.load(RESULTS)
    except (OSError, KeyError, ValueError) as e:
        raise BookError(f"docs/results: cannot read the last make bench run ({e}); run `make bench` again")


def skip_reason(run, name, workload):
    """Why a measure is missing, in a few words, from the run's notes (None: no note)."""
    for key in (workload, "all"):
        for who, what, text in run.notes:
            if who == name and what == key:
                return re.split(r" \(|, so ", text, maxsplit=1)[0]
    return None


def results_section(page, run, has_results_page):
    """The chapter's "Measured by make bench" section: its numbers from the last make bench next to
    the nginx it is compared with and the kernel floor, the date and machine of that run, its plot,
    and its profile (make profile) when there is one."""
    name = page.chapter["name"]
    out = ["## Measured by make bench", ""]
    if run is None:
        out.append("No measurements yet: `make bench` (about 45 minutes) measures every chapter against "
                   "nginx and the kernel floor and writes `docs/results/`; the next `make docs` shows this "
                   "chapter's numbers and plot here.")
        return "\n".join(out)
    info, cfg = run.info, run.cfg
    when = (f" on {info.get('date', '?')} on {info.get('host', '?')}, {info.get('cpu', '?')} ({info.get('cores', '?')} "
            f"cores, {info.get('memory', '?')}, {info.get('kernel', '?')}), nginx {info.get('nginx', '?')}")
    more = (" [Benchmarks](@ref results) has every chapter side by side, and how each measure is "
            "taken.") if has_results_page else ""
    t = run.by_name(name)
    if t is None or t.kind != "chapter":
        why = skip_reason(run, name, "all")
        out.append(f"The last `make bench` ({info.get('date', '?')}) did not measure this chapter"
                   f"{': ' + why if why else ''}.{more}")
        return "\n".join(out)
    out.append(f"This chapter against {t.twin} (nginx configured for the same job) and the kernel floor "
               "(one epoll loop, one read and one write per request, no parsing: the least a request can "
               "cost). **CPU per request** is the server's user plus system time over the run, divided by "
               "the requests answered; **x floor** is its multiple of the floor's, the cost of the model "
               f"and of the code. The servers ran on CPU {', '.join(map(str, cfg.server_cpus))}, wrk on CPU "
               f"{', '.join(map(str, cfg.loadgen_cpus))}.")
    out.append("")
    rows = [f"| Measure | {name} | {t.twin} | floor | vs nginx | x floor |", "|---|---|---|---|---|---|"]

    def row(label, workload, param, metric, show, floor=True):
        mine = run.median(name, workload, param, metric)
        theirs = run.median(t.twin, workload, param, metric)
        base = run.median(FLOOR, workload, param, metric) if floor else None
        if mine is None:
            return [label, skip_reason(run, name, workload) or "not measured", show(theirs) if theirs else "-",
                    "-", "-", "-"]
        return [label, show(mine), show(theirs) if theirs is not None else "-", show(base) if base else "-",
                fmt_ratio(run.ratio(t, workload, param, metric)),
                fmt_ratio(mine / base) if base else "-"]

    top = max(cfg.levels)
    depth, close = cfg.pipeline_depth, cfg.close_conns
    table = [
        row(f"CPU per keep-alive request ({top} conn)", "keep-alive", top, "cpu_us", fmt_us),
        row(f"CPU per pipelined request (x{depth})", "pipelined", depth, "cpu_us", fmt_us),
        row("CPU per connection (Connection: close)", "close", close, "cpu_us", fmt_us),
    ]
    for n in cfg.levels:
        table.append(row(f"Keep-alive GET /, {n} conn, req/s", "keep-alive", n, "rps", fmt_int))
    table.append(row(f"Pipelined x{depth}, {cfg.pipeline_conns} conn, req/s", "pipelined", depth, "rps", fmt_int))
    table.append(row(f"Connection: close, {close} conn, req/s", "close", close, "rps", fmt_int))
    blocking = row(f"GET / p99, {cfg.sleepers} `/sleep?ms={cfg.sleep_ms}` in flight", "blocking", cfg.block_conns,
                   "p99_ms", fmt_ms, floor=False)
    blocking[2] = "no blocking route"
    table.append(blocking)
    table.append(row(f"Memory per idle connection (PSS), {cfg.idle:,} held", "idle", cfg.idle, "bytes_per_conn",
                     fmt_bytes, floor=False))
    table.append(row("System calls per keep-alive request", "syscalls", cfg.requests, "syscalls_per_req",
                     lambda v: f"{v:.2f}"))
    rows += ["| " + " | ".join(cells) + " |" for cells in table]
    out += rows
    out.append("")
    out.append(f"Measured by `make bench`{when}, medians of {cfg.runs} runs; treat differences under ~10% as "
               f"noise.{more}")
    plot = bench_plots.chapter_plot_name(name)
    out.append("")
    if (RESULTS / plot).exists():
        out.append(f"![{name} against {t.twin} and the floor (docs/results/{plot})]({plot})")
    for kind, caption in (("split", "where its CPU time goes"), ("flame", "its flame graph")):
        image = f"profile-{name}-{kind}.png"
        if (RESULTS / image).exists():
            out.append("")
            out.append(f"![{name}: {caption}, from `make profile CH={name[:2]}` (docs/results/{image})]({image})")
    return "\n".join(out)


def load_attacks():
    """The last make attacks run's verdicts (docs/results/attacks.json); None if it has not run."""
    path = RESULTS / "attacks.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise BookError(f"{path.relative_to(REPO)}: not JSON ({e}); run `make attacks` again")


ATTACK_NAMES = {"slowloris": "slowloris: request heads that never end",
                "slow-body": "slow body: a POST body sent a few bytes at a time",
                "slow-read": "slow read: a large file read a few bytes at a time"}


def attacks_section(page, attacks):
    """The chapter's "Attacks" section: the commands of make attacks, and the verdicts its last
    run got from this chapter (and its variants), with what the model claims."""
    name = page.chapter["name"]
    out = ["## Attacks, with the tools that make them", ""]
    runs = {k: v for k, v in (attacks or {}).get("chapters", {}).items() if k == name or k.startswith(name + "+")}
    if not runs:
        out.append("No verdicts yet: `make attacks` runs slowhttptest, ab and h2load against every chapter "
                   "and writes `docs/results/attacks.json`; the next `make docs` shows this chapter's here.")
        return "\n".join(out)
    out.append("`make attacks` (or `make attacks CH=NN`) runs each attack for "
               f"{attacks.get('seconds', '?')} s against a fresh server. slowhttptest sends a fresh `GET /` "
               "every second while it attacks, and counts it answered if the answer comes within 2 s; "
               "`tests/attacks/test_attacks.py` checks the verdict both ways against what the model claims "
               "(`chapters/registry.json`). To watch one yourself, start the chapter with `make run` and, "
               "in another terminal:")
    out.append("")
    out.append("```")
    out += [attacks["commands"][a] for a in ATTACK_NAMES if a in attacks.get("commands", {})]
    out.append("```")
    out.append("")
    out.append("slowhttptest writes NAME.html, a plot of connections and service over time. "
               f"The last run ({attacks.get('date', '?')} on {attacks.get('host', '?')}):")
    out.append("")
    out += ["| Server | Attack | Connections | Probe answered | The model claims |", "|---|---|---|---|---|"]
    caps = page.chapter.get("capabilities", {})
    for run_name, verdicts in sorted(runs.items()):
        done = verdicts.get("slowhttptest", {})
        for attack in [a for a in ATTACK_NAMES if a in done] + [a for a in done if a not in ATTACK_NAMES]:
            v = done[attack]
            total = v["answered_s"] + v["unanswered_s"]
            measured = ("every second: service available" if not v["unanswered_s"] else
                        f"in {v['answered_s']} of {total} s: service unavailable for {v['unanswered_s']} s")
            if v["claimed_available"]:
                claim = "available"
            elif not caps.get("isolates_slow_clients"):
                claim = "unavailable: one client at a time"
            else:
                claim = f"unavailable: more slow clients than `--max-clients` ({attacks.get('max_clients', '?')})"
            out.append(f"| {run_name} | {ATTACK_NAMES.get(attack, attack)} | {v['connections']:,} | {measured} | "
                       f"{claim} |")
    clients = [(run_name, c) for run_name, verdicts in sorted(runs.items()) for c in verdicts.get("clients", [])]
    if clients:
        out.append("")
        out.append("As ordinary clients, `ab` and `h2load --h1` (HTTP/1.1, pipelined 8 deep):")
        out.append("")
        out += [f"- {run_name}, `{c['tool']}`: {c['answered_2xx']:,} of {c['sent']:,} requests answered 2xx"
                for run_name, c in clients]
    return "\n".join(out)


def insert_before_exercises(page, section):
    """Puts section just before the chapter's "Exercises" (or at its end)."""
    lines = page.text.split("\n")
    at, in_fence = len(lines), False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and re.match(r"^##\s+Exercises\b", line):
            at = i
            break
    section = section.split("\n")
    lines[at:at] = section + [""] if at < len(lines) else ["", *section]
    page.text = "\n".join(lines)


def insert_results(page, run, has_results_page, claim_rows=()):
    """The "Measured by make bench" section, just before the chapter's "Exercises" (or at its end),
    ending with the claims of the classic articles that this chapter tests."""
    section = results_section(page, run, has_results_page)
    mine = [r for r in claim_rows if page.chapter["name"][:2] in r.chapters]
    if mine:
        section += ("\n\nThe classic articles' claims that this chapter tests, with their numbers and verdicts, "
                    "are in [the claims ledger](@ref claims): " +
                    "; ".join(f"{r.id} ({r.verdict})" for r in mine) + ".")
    insert_before_exercises(page, section)


def check_claims(run):
    """The rows of docs/claims.md, which must be the page scripts/claims.py writes from the committed
    data (it is regenerated by make bench and make attacks, never edited by hand)."""
    if run is None:
        return []
    text, rows = claims_tool.render(run, claims_tool.load_attacks(RESULTS))
    page = DOCS / "claims.md"
    if not page.exists() or page.read_text(encoding="utf-8") != text:
        raise BookError("docs/claims.md is not the page the data in docs/results give: run "
                        "`/usr/bin/python3 scripts/claims.py --from docs/results` and commit it")
    return rows


def replace_block(page, name, generated):
    """Replaces the text between <!-- book:name --> and <!-- /book:name --> with generated."""
    pattern = re.compile(rf"<!-- book:{name} -->.*?<!-- /book:{name} -->", re.S)
    if not pattern.search(page.text):
        raise BookError(f"{page.source.relative_to(REPO)}: no <!-- book:{name} --> ... <!-- /book:{name} --> block")
    page.text = pattern.sub(lambda _: generated, page.text)


# --- generated blocks -------------------------------------------------------------------------


def capability_table(link_base=None, labels=None):
    """The capability matrix as markdown. Links to chapter READMEs relative to link_base, or
    @ref links when labels (name -> page label) is given."""
    entries = load_registry()
    keys = list(CAPABILITIES)
    for entry in entries:
        keys += [k for k in entry["capabilities"] if k not in keys]
    head = ["Chapter", "Model"] + [CAPABILITIES.get(k, k.replace("_", " ")) for k in keys] + ["Model flags"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in entries:
        name = entry["name"]
        if labels:
            link = f"[{name}](@ref {labels[name]})"
        else:
            link = f"[{name}]({os.path.relpath(REPO / 'chapters' / name / 'README.md', link_base)})"
        caps = [{True: "yes", False: "no"}.get(entry["capabilities"].get(k), "?") for k in keys]
        flags = ", ".join(f"`--{flag}`" for flag in entry.get("flags", [])) or "none"
        rows.append("| " + " | ".join([link, entry["model"], *caps, flags]) + " |")
    return "\n".join(rows)


def capabilities_block(table):
    return f"<!-- book:capabilities -->\n{table}\n<!-- /book:capabilities -->"


def check_capabilities(write=False):
    """The committed table of docs/capabilities.md must be the registry's; write fixes it."""
    path = DOCS / "capabilities.md"
    text = path.read_text(encoding="utf-8")
    wanted = capabilities_block(capability_table(link_base=DOCS))
    current = re.search(r"<!-- book:capabilities -->.*?<!-- /book:capabilities -->", text, re.S)
    if current is None:
        raise BookError("docs/capabilities.md: no <!-- book:capabilities --> block")
    if current[0] == wanted:
        return True
    if write:
        path.write_text(text.replace(current[0], wanted), encoding="utf-8")
        print("docs/capabilities.md: table rewritten from chapters/registry.json")
        return True
    raise BookError("docs/capabilities.md: its capability table differs from chapters/registry.json; "
                    "run `make capabilities` to rewrite it, and check the prose around it")


def contents_block(pages):
    lines = ["<!-- book:contents -->"]
    for page in pages[1:]:
        # @ref, not \subpage: doxygen 1.9.4 leaves the main page's subpages out of the navigation
        # tree, while top-level pages appear there in INPUT order, which is reading order.
        lines.append(f"- @ref {page.label}")
    lines.append("- [API reference of common/](modules.html): one module per header")
    lines.append("<!-- /book:contents -->")
    return "\n".join(lines)


def exercises_block(labels):
    # An exercise still missing its test or its task is left out here and reported;
    # make exercises-verify is where such an exercise fails.
    found, errors = exercises_tool.find_exercises()
    for error in errors:
        print(f"book: exercise list: {error}", file=sys.stderr)
    complete = [e for e in found.values() if e.chapter in labels and e.test and e.task]
    rows = ["| Chapter | Exercise | The task | Start it |", "|---|---|---|---|"]
    for ex in sorted(complete, key=lambda e: (e.chapter, e.name)):
        task = re.sub(r"^\S+\s+\*\*`[^`]+`\*\*\s*(\([^)]*\))?[:.]?\s*", "", ex.task.replace("\n", " "))
        first = re.split(r"(?<=[.])\s", task, maxsplit=1)[0]
        rows.append(f"| [{ex.chapter}](@ref {labels[ex.chapter]}) | `{ex.name}` | {first} | "
                    f"`make exercise CH={ex.number} EX={ex.name}` |")
    if len(rows) == 2:
        rows.append("| | | no exercises yet | |")
    return "<!-- book:exercises -->\n" + "\n".join(rows) + "\n<!-- /book:exercises -->"


# --- the build --------------------------------------------------------------------------------


def add_navigation(pages):
    """Gives every page after the main one a line to the pages before and after it in reading
    order, under its title and at its end: a book is read from one chapter to the next."""
    for i, page in enumerate(pages):
        if page.kind == "main":
            continue
        before = pages[i - 1]
        after = pages[i + 1] if i + 1 < len(pages) else None
        parts = [f'Previous: \\ref {before.label} "{before.title}"']
        if after:
            parts.append(f'Next: \\ref {after.label} "{after.title}"')
        line = '<div class="book-nav">' + " &nbsp;·&nbsp; ".join(parts) + "</div>"
        title, _, rest = page.text.partition("\n")
        page.text = f"{title}\n\n{line}\n{rest.rstrip()}\n\n{line}\n"


def write_pages(out):
    pages = book_pages()
    labels = {page.source.resolve(): page.label for page in pages}
    chapter_labels = {page.chapter["name"]: page.label for page in pages if page.kind == "chapter"}
    check_capabilities()
    run = load_results()
    claim_rows = check_claims(run)
    attacks = load_attacks()
    has_results_page = any(page.label == "results" for page in pages)
    for page in pages:
        if page.kind == "chapter":
            inline_regions(page)
            insert_diagram(page)
            insert_before_exercises(page, attacks_section(page, attacks))
            insert_results(page, run, has_results_page, claim_rows)
        if page.kind == "main":
            replace_block(page, "contents", contents_block(pages))
        if page.label == "capabilities":
            replace_block(page, "capabilities", capabilities_block(capability_table(labels=chapter_labels)))
        if page.label == "exercises":
            replace_block(page, "exercises", exercises_block(chapter_labels))
        rewrite_links(page, labels)
        protect_code_spans(page)
    add_navigation(pages)
    pages_dir = out / "pages"
    shutil.rmtree(pages_dir, ignore_errors=True)
    pages_dir.mkdir(parents=True)
    for page in pages:
        (pages_dir / page.out_name).write_text(page.text, encoding="utf-8")
    # The API reference: common/, and the headers of the models that chapters reuse (chapter 04's
    # connection and loop, chapter 09's ring and send queue).
    inputs = ([pages_dir / page.out_name for page in pages] + [REPO / "common"] +
              sorted(REPO.glob("chapters/*/*.hpp")))
    rel = lambda p: os.path.relpath(p, REPO)
    doxyfile = out / "Doxyfile"
    doxyfile.write_text(
        "# Written by scripts/book.py: docs/Doxyfile plus the generated pages, in reading order.\n"
        f"@INCLUDE = {rel(DOCS / 'Doxyfile')}\n"
        f"INPUT = {' '.join(rel(p) for p in inputs)}\n"
        f"USE_MDFILE_AS_MAINPAGE = {rel(pages_dir / pages[0].out_name)}\n"
        f"WARN_LOGFILE = {rel(out / 'doxygen-warnings.log')}\n"
        # The plots of make bench, which the results page and every chapter's page show.
        + (f"IMAGE_PATH = {rel(RESULTS)}\n" if RESULTS.is_dir() else ""),
        encoding="utf-8")
    return pages, doxyfile


def build(out):
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    pages, doxyfile = write_pages(out)
    html = DOCS / "html"
    shutil.rmtree(html, ignore_errors=True)
    log = out / "doxygen-warnings.log"
    log.unlink(missing_ok=True)
    result = subprocess.run(["doxygen", str(doxyfile.relative_to(REPO))], cwd=REPO)
    warnings = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.exists() else []
    for line in warnings:
        print(line)
    elapsed = time.monotonic() - started
    if result.returncode != 0 or warnings:
        print(f"docs: FAILED: {len(warnings)} doxygen warnings (every warning is an error), "
              f"doxygen exit {result.returncode}; the list: {log.relative_to(REPO)}")
        return 1
    print(f"docs: {len(pages)} pages and the API reference, 0 warnings, {elapsed:.1f} s: "
          f"open {(html / 'index.html').relative_to(REPO)}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="where the pages and the Doxyfile go (a build directory)")
    parser.add_argument("--write-capabilities", action="store_true", help="rewrite docs/capabilities.md's table")
    args = parser.parse_args()
    try:
        if args.write_capabilities:
            check_capabilities(write=True)
            return 0
        if not args.out:
            parser.error("--out is required")
        return build((REPO / args.out).resolve() if not args.out.is_absolute() else args.out)
    except BookError as e:
        print(f"docs: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
