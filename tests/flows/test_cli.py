"""`flowpilot flows …` as an engineer runs it: validate prints every fault as file:line and exits 1, import
validates first and stores nothing when anything is wrong, re-importing is "unchanged", list shows counters,
show prints the YAML or a Mermaid diagram, export writes files that import back unchanged."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.flows.library import FlowLibrary

from .test_validate import GOOD


async def flowpilot(cwd: Path, db_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`flowpilot flows ARGS…` in a clean environment."""
    return await command(cwd, db_url, "flows", *args)


async def command(cwd: Path, db_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    env["FLOWPILOT_DATA_DIR"] = str(cwd / "data")
    if db_url:
        env["DATABASE_URL"] = db_url
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "adapters.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


async def test_validate_prints_every_fault_with_its_line_and_exits_1(tmp_path: Path) -> None:
    _write(tmp_path / "lib", "good.yaml", GOOD)
    bad = GOOD.replace("start: owa", "start: owb").replace("next: tier2}", "next: tier3}")
    _write(tmp_path / "lib" / "sub", "bad.yml", bad)
    _write(tmp_path / "lib" / "sub", "copy.yml", GOOD)  # the same flow again
    _write(tmp_path / "lib", "schema.json", "{}")  # not a flow: a folder's flows are its YAML files

    result = await flowpilot(tmp_path, None, "validate", "lib")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "lib/sub/bad.yml:9: start: unknown node 'owb'",
        "lib/sub/bad.yml:16: nodes.owa.options[1].next: unknown node 'tier3'",
        "lib/sub/copy.yml:1: flow id 'm365-outlook-password-loop' is also in lib/good.yaml",
    ]
    ok = await flowpilot(tmp_path, None, "validate", "lib/good.yaml")
    assert (ok.returncode, ok.stdout.strip()) == (0, "1 flow valid")
    missing = await flowpilot(tmp_path, None, "validate", "nowhere")
    assert (missing.returncode, missing.stderr.strip()) == (1, "nowhere: no such file or folder")


async def test_import_validates_first_versions_changes_and_round_trips(
    tmp_path: Path, db_url: str, db: async_sessionmaker[AsyncSession]
) -> None:
    good = _write(tmp_path / "lib", "outlook.yaml", GOOD)
    broken = _write(
        tmp_path / "lib",
        "broken.yaml",
        GOOD.replace("id: m365-outlook", "id: other").replace("start: owa", "start: nope"),
    )

    refused = await flowpilot(tmp_path, db_url, "import", "lib")
    assert refused.returncode == 1
    assert "lib/broken.yaml:9: start: unknown node 'nope'" in refused.stderr
    assert "nothing imported" in refused.stderr
    assert await FlowLibrary(db).summaries(account_id=None) == []

    broken.unlink()
    first = await flowpilot(tmp_path, db_url, "import", "lib")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split("\t")[:2] == ["m365-outlook-password-loop", "v1"]
    again = await flowpilot(tmp_path, db_url, "import", str(good))
    assert "unchanged (v1)" in again.stdout
    good.write_text(GOOD.replace("Mailbox-level issue", "Mailbox quota or corruption"))
    changed = await flowpilot(tmp_path, db_url, "import", str(good))
    assert changed.stdout.split("\t")[:2] == ["m365-outlook-password-loop", "v2"]

    exported = await flowpilot(tmp_path, db_url, "export", "--dir", "out")
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "out" / "m365-outlook-password-loop.yaml").read_text() == good.read_text()
    back = await flowpilot(tmp_path, db_url, "import", "out")
    assert "unchanged (v2)" in back.stdout


async def test_import_warns_of_a_goto_flow_to_a_flow_neither_imported_nor_in_the_library(
    tmp_path: Path, db_url: str
) -> None:
    jumping = GOOD.replace(
        "{type: ai, hint: Consider Conditional Access}", "{type: goto_flow, flow: m365-conditional-access}"
    )
    _write(tmp_path / "lib", "outlook.yaml", jumping)
    alone = await flowpilot(tmp_path, db_url, "import", "lib/outlook.yaml")
    assert alone.returncode == 0 and alone.stdout.startswith("m365-outlook-password-loop\tv1")
    assert alone.stderr.splitlines() == [
        "warning: lib/outlook.yaml:23: nodes.explore.flow: no flow 'm365-conditional-access' in the library "
        "yet: a session that reaches this node goes on with Claude (import that flow too)"
    ]
    # Imported together with the flow it names: nothing to warn of.
    target = GOOD.replace("id: m365-outlook-password-loop", "id: m365-conditional-access")
    _write(tmp_path / "lib", "conditional.yaml", target)
    both = await flowpilot(tmp_path, db_url, "import", "lib")
    assert both.returncode == 0 and both.stderr == "", both.stderr


async def test_list_shows_counters_and_show_prints_yaml_or_mermaid(
    tmp_path: Path, db_url: str, db: async_sessionmaker[AsyncSession]
) -> None:
    _write(tmp_path, "outlook.yaml", GOOD)
    assert (
        await flowpilot(tmp_path, db_url, "import", "outlook.yaml", "--account", "slack:T-ACME")
    ).returncode == 0
    library = FlowLibrary(db)
    [summary] = await library.summaries(account_id=None)
    for event in ("started", "started", "resolved"):
        await library.count(summary.ref.version_id, event=event)
    await library.count(summary.ref.version_id, event="left", node="owa")

    listed = await flowpilot(tmp_path, db_url, "list")
    header, row = listed.stdout.splitlines()
    assert header.split() == ["SLUG", "VER", "ACCOUNT", "STARTED", "RESOLVED", "ESCALATED", "LEFT", "TITLE"]
    assert row.split()[:8] == [
        "m365-outlook-password-loop",
        "v1",
        "slack:T-ACME",
        "2",
        "1",
        "0",
        "1",
        "(most",
    ]

    shown = await flowpilot(
        tmp_path, db_url, "show", "m365-outlook-password-loop", "--account", "slack:T-ACME"
    )
    assert shown.returncode == 0, shown.stderr
    assert GOOD in shown.stdout
    diagram = await flowpilot(tmp_path, db_url, "show", str(summary.ref.flow_id), "--mermaid")
    assert diagram.stdout.startswith("flowchart TD\n")
    assert '-->|"Yes"|' in diagram.stdout
    # Another account does not see ACME's flow.
    other = await flowpilot(
        tmp_path, db_url, "show", "m365-outlook-password-loop", "--account", "slack:T-ACME2"
    )
    assert (other.returncode, other.stderr.strip()) == (
        1,
        "flowpilot: no account 'slack:T-ACME2' has used FlowPilot yet",
    )


async def test_an_account_hides_a_shared_flow_and_shows_it_again(tmp_path: Path, db_url: str) -> None:
    _write(tmp_path, "outlook.yaml", GOOD)
    assert (await flowpilot(tmp_path, db_url, "import", "outlook.yaml")).returncode == 0
    hidden = await flowpilot(
        tmp_path, db_url, "hide", "m365-outlook-password-loop", "--account", "slack:T-ACME"
    )
    assert hidden.returncode == 0, hidden.stderr
    listed = await flowpilot(tmp_path, db_url, "list", "--account", "slack:T-ACME")
    assert "m365-outlook-password-loop" not in listed.stdout
    assert "m365-outlook-password-loop" in (await flowpilot(tmp_path, db_url, "list")).stdout  # others see it
    await flowpilot(
        tmp_path, db_url, "hide", "m365-outlook-password-loop", "--account", "slack:T-ACME", "--show"
    )
    listed = await flowpilot(tmp_path, db_url, "list", "--account", "slack:T-ACME")
    assert "m365-outlook-password-loop" in listed.stdout


async def test_migrate_stocks_the_starter_library(tmp_path: Path, db_url: str) -> None:
    migrated = await command(tmp_path, db_url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    listed = await flowpilot(tmp_path, db_url, "list")
    slugs = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert len(slugs) >= 15 and "m365-outlook-password-prompts" in slugs
    assert all(
        line.split()[2] == "all" for line in listed.stdout.splitlines()[1:]
    )  # they serve every account
