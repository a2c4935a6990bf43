"""The routing table: every row is reachable, verb rows win, and the table prints as a diagram."""
from __future__ import annotations

from bot.cli import main
from bot.core.core import RoutingTable
from bot.core.sessions import SessionData
from bot.core.types import Channel, Inbound
from handlers.routes import all_routes


def table() -> RoutingTable:
    return RoutingTable(all_routes())


def test_a_verb_row_wins_over_its_prefix_and_keeps_the_verb_in_the_args() -> None:
    route, args = table().match(Inbound(Channel.WEBCHAT, "a" * 32, action="job:show:42"),
                                SessionData())
    assert route is not None and route.handler.__name__ == "show_vacancy"
    assert args == ("show", "42")


def test_an_unknown_verb_of_a_prefix_with_verbs_is_not_claimed() -> None:
    rows = table()
    assert rows.claims("job:show:1")
    assert rows.claims("job")
    assert not rows.claims("job:nosuchverb:1")
    assert rows.claims("lang:bg")  # a prefix without verbs takes values
    assert not rows.claims("nosuchprefix:1")


def test_python_m_bot_routes_prints_the_table_and_a_mermaid_diagram(capsys) -> None:  # noqa: ANN001
    assert main(["routes"]) == 0
    out = capsys.readouterr().out
    assert "job:show" in out and "show_vacancy" in out
    assert "stateDiagram-v2" in out
    assert "/start" in out
