"""The repository's own rules: a README a user reads through, no references to files that
left the repository or to folders outside it, a docstring on every rule, and workflow
scripts that each hand Snakemake's values to one job function."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

PAGE_LIMIT_BYTES = 15_000
# Spelled in two parts so that this file does not mention it itself.
OUTSIDE_FOLDER = "../" + "shared"  # the maintainers' data copies beside the checkout
# Where naming the outside folder is honest: the test and CI set-up that point at the data copies.
MAY_NAME_OUTSIDE_FOLDER = ("tests/", ".ci/")


def tracked_files() -> list[str]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    return [name for name in result.stdout.split("\0") if name and (REPO / name).is_file()]


def files_mentioning(text: str, names: list[str]) -> list[str]:
    needle = text.encode()
    return [name for name in names if needle in (REPO / name).read_bytes()]


@pytest.mark.parametrize("page", ["README.md", "docs/strong-attacks.md"])
def test_the_pages_a_reader_starts_from_are_short_enough_to_read_through(page):
    size = (REPO / page).stat().st_size
    assert size <= PAGE_LIMIT_BYTES, f"{page} is {size:,} bytes; the record of runs belongs in bench/"


MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but - and _ dropped, spaces to -."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {github_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def broken_links(path: Path) -> list[str]:
    """Relative links of a Markdown page whose file or heading does not exist."""
    broken = []
    for target in MARKDOWN_LINK.findall(path.read_text()):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{path.relative_to(REPO)}: {target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    return broken


def test_every_relative_link_of_the_pages_for_readers_resolves():
    pages = [REPO / "README.md", REPO / "bench" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    pages += sorted((REPO / "profiles").glob("*/README.md"))
    assert sum(len(MARKDOWN_LINK.findall(page.read_text())) for page in pages) > 50  # the parse finds links
    assert [link for page in pages for link in broken_links(page)] == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "REPO", tmp_path)
    (tmp_path / "a.md").write_text("# Run times (2 cores)\n[ok](#run-times-2-cores) [gone](b.md) [bad](a.md#nope)\n")
    assert broken_links(tmp_path / "a.md") == ["a.md: b.md (no such file)", "a.md: a.md#nope (no such heading)"]


def test_only_test_and_ci_set_up_name_the_folder_outside_the_repository():
    outside = [name for name in tracked_files() if not name.startswith(MAY_NAME_OUTSIDE_FOLDER)]
    assert files_mentioning(OUTSIDE_FOLDER, outside) == []
    # The Makefile leaves the data folder to the user (empty: download).
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^DATA_DIR \?=[ \t]*$", makefile, re.MULTILINE), "Makefile's DATA_DIR default is not empty"


RULE = re.compile(r"^[ \t]*rule[ \t]*(\w*)[ \t]*:[ \t]*$")


def rules_without_docstring(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    missing = []
    for number, line in enumerate(lines):
        match = RULE.match(line)
        if not match:
            continue
        following = next((text.strip() for text in lines[number + 1 :] if text.strip()), "")
        if not following.startswith('"""'):
            missing.append(f"{path.relative_to(REPO)}:{number + 1} rule {match.group(1) or '(anonymous)'}")
    return missing


def test_every_rule_has_a_docstring():
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    rules = [line for path in files for line in path.read_text().splitlines() if RULE.match(line)]
    assert len(rules) >= 20  # the parse found the rules (they are not written some other way)
    assert [missing for path in files for missing in rules_without_docstring(path)] == []


JOB_PACKAGE = "mnistrobust.jobs."
RUNTIME = "mnistrobust.jobs.runtime"
# What a script's job call may name besides Snakemake's object, the job's log and runtime's helpers.
PLAIN_BUILTINS = {"list", "dict", "zip"}


def convention_breaches(path: Path) -> list[str]:
    """How a workflow script departs from the one convention: a docstring, imports from the
    job layer, then ``with job_for(snakemake) as log:`` around one call of a job function
    (of a job module other than runtime) whose arguments come from ``snakemake``, ``log``
    and runtime's helpers alone (also through a short name given to a part of ``snakemake``
    before the call)."""
    tree = ast.parse(path.read_text(), str(path))
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body.pop(0)
    breaches, runtime, jobs = [], set(), set()
    while body and isinstance(body[0], ast.ImportFrom):
        node = body.pop(0)
        if not (node.module or "").startswith(JOB_PACKAGE):
            breaches.append(f"imports {node.module} (not the job layer)")
        (runtime if node.module == RUNTIME else jobs).update(alias.asname or alias.name for alias in node.names)
    if len(body) != 1 or not isinstance(body[0], ast.With):
        return breaches + ["has statements other than its imports and one `with job_for(snakemake) as log:`"]
    block = body[0]
    opening = ast.unparse(block.items[0]) if len(block.items) == 1 else ""
    if opening != "job_for(snakemake) as log" or "job_for" not in runtime:
        breaches.append(f"opens `with {', '.join(ast.unparse(item) for item in block.items)}`")
    *aliases, last = block.body
    plain = [isinstance(alias, ast.Assign) and [type(t) for t in alias.targets] == [ast.Name] for alias in aliases]
    call = last.value if isinstance(last, ast.Expr) else None
    if not all(plain) or not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.func.id not in jobs:
        return breaches + ["does not call exactly one job function in its `with` block"]
    allowed = {"snakemake", "log"} | runtime | PLAIN_BUILTINS
    for expression in [*(alias.value for alias in aliases), *call.args, *(keyword.value for keyword in call.keywords)]:
        strangers = {node.id for node in ast.walk(expression) if isinstance(node, ast.Name)} - allowed
        if strangers:
            breaches.append(f"passes {sorted(strangers)} besides Snakemake's object and runtime's helpers")
        allowed |= {target.id for alias in aliases if alias.value is expression for target in alias.targets}
    return breaches


def test_every_workflow_script_passes_snakemakes_values_to_one_job_function():
    scripts = sorted((REPO / "workflow" / "scripts").glob("*.py"))
    assert len(scripts) >= 20
    assert {script.name: convention_breaches(script) for script in scripts if convention_breaches(script)} == {}


@pytest.mark.parametrize(
    ("body", "breach"),
    [
        ("    train_checkpoint(snakemake.input.data, log=log)\n", None),
        ("    log('trains by hand instead')\n", "does not call exactly one job function"),
        ("    train_checkpoint(snakemake.input.data)\n    train_checkpoint(snakemake.input.data)\n", "exactly one"),
        ("    settings = snakemake.params\n    train_checkpoint(settings.spec)\n", None),
        ("    n = len(snakemake.input)\n    train_checkpoint(n)\n", "passes ['len']"),
        ("    train_checkpoint(n)\n    n = 1\n", "exactly one"),
        ("    train_checkpoint(snakemake.input.data, seed=SEED)\n", "passes ['SEED']"),
    ],
)
def test_a_script_that_departs_from_the_convention_is_found(tmp_path, body, breach):
    script = tmp_path / "script.py"
    imports = "from mnistrobust.jobs.runtime import job_for\nfrom mnistrobust.jobs.training import train_checkpoint\n"
    script.write_text(f'"""Rule x."""\n\n{imports}\nwith job_for(snakemake) as log:\n{body}')
    breaches = convention_breaches(script)
    assert breaches == [] if breach is None else any(breach in found for found in breaches), breaches


def test_a_script_with_a_helper_or_an_import_beside_the_job_layer_is_found(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        "import os\nfrom mnistrobust.jobs.runtime import job_for\nfrom mnistrobust.jobs.training import train\n"
        "with job_for(snakemake) as log:\n    train(os.getcwd())\n"
    )
    assert convention_breaches(script) == ["has statements other than its imports and one `with job_for(snakemake) as log:`"]
    script.write_text(
        "from mnistrobust.jobs.training import train\nfrom mnistrobust.data import load_split\n"
        "with open('x') as log:\n    train(load_split)\n"
    )
    assert convention_breaches(script) == [
        "imports mnistrobust.data (not the job layer)",
        "opens `with open('x') as log`",
        "passes ['load_split'] besides Snakemake's object and runtime's helpers",
    ]


# What writes a file: io's atomic writers, and matplotlib's and pandas' own.
WRITERS = {
    "atomic_path", "write_text_atomic", "save_figure", "write_csv", "save_checkpoint", "save_sign_map", "save_pool",
    "save_transfer_examples", "save_stimuli", "savefig", "to_csv", "to_hdf", "to_parquet",
}
# io/ holds the writers; data/acquire.py writes the MNIST and USPS files that jobs/data.py's jobs are.
MAY_WRITE = ("jobs/", "io/", "data/acquire.py")


def writer_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    called = [
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
    ]
    return [name for name in called if name in WRITERS]


def test_only_the_job_layer_writes_files():
    package = REPO / "src" / "mnistrobust"
    modules = [path for path in sorted(package.rglob("*.py")) if not str(path.relative_to(package)).startswith(MAY_WRITE)]
    assert len(modules) > 30
    writing = {str(path.relative_to(package)): writer_calls(path) for path in modules if writer_calls(path)}
    assert writing == {}


def test_a_module_that_writes_is_found(tmp_path):
    module = tmp_path / "plots.py"
    module.write_text("def plot(figure, table, out):\n    figure.savefig(out)\n    write_csv(table, out)\n    return figure\n")
    assert writer_calls(module) == ["savefig", "write_csv"]
