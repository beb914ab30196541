"""The house's floors, held by a test: every room (a Django app of ours) declares its floor once,
on its AppConfig (``floor = N``), and a module may import only rooms on lower floors. The
project shell (``config``: settings and the URL map) is the top floor, so the URL map alone
reaches every room's views. A room that needs something from above offers a hub instead
(``patients.panels``, ``photos.viewer``, ``accounts.settings_sections``, ...), and the room above
registers itself there when it starts."""

from __future__ import annotations

import ast
from pathlib import Path

from django.apps import apps

from tests.conftest import ROOT


def floors() -> dict[str, int]:
    """{room's package: floor} for every installed app of ours (those inside the checkout)."""
    found = {}
    for config in apps.get_app_configs():
        if Path(config.path).parent != ROOT:
            continue
        assert isinstance(getattr(config, "floor", None), int), (
            f"{config.name}/apps.py declares no floor: add `floor = N` to {type(config).__name__}"
        )
        found[config.name] = config.floor
    return found


def imported_rooms(source: str, rooms: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of a room, at any depth of the module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] in rooms]
    return found


def climbs(room: str, path: str, source: str, floor_of: dict[str, int]) -> list[str]:
    """Each import in ``source`` (a module of ``room``) of a room not on a lower floor."""
    problems = []
    for line, module in imported_rooms(source, set(floor_of)):
        target = module.split(".")[0]
        if target != room and floor_of[target] >= floor_of[room]:
            problems.append(
                f"{path}:{line} imports {module}: {room} is on floor {floor_of[room]}, "
                f"{target} on floor {floor_of[target]}"
            )
    return problems


def test_every_room_declares_a_floor_and_the_shell_is_on_top():
    floor_of = floors()
    assert {"clinic", "audit", "accounts", "vault", "patients", "photos", "consent"} <= set(
        floor_of
    )
    assert floor_of["clinic"] == min(floor_of.values())
    assert floor_of["config"] > max(f for room, f in floor_of.items() if room != "config")


def test_no_import_climbs_a_floor():
    floor_of = floors()
    problems = []
    for room in floor_of:
        for module in sorted((ROOT / room).rglob("*.py")):
            path = str(module.relative_to(ROOT))
            problems += climbs(room, path, module.read_text(), floor_of)
    assert not problems, "imports that climb a floor:\n" + "\n".join(problems)


def test_a_deliberate_climb_is_caught():
    """The check itself: the marketing lookup photos once made, put back, is reported, in a
    function body too; the same import from the room above passes."""
    floor_of = floors()
    climb = "def detail():\n    from consent.selectors import active_uses\n"
    assert climbs("photos", "photos/views.py", climb, floor_of) == [
        "photos/views.py:2 imports consent.selectors: photos is on floor "
        f"{floor_of['photos']}, consent on floor {floor_of['consent']}"
    ]
    assert climbs("consent", "consent/views.py", "import photos.models\n", floor_of) == []
    assert climbs("clinic", "clinic/x.py", "from audit.services import record\n", floor_of)
