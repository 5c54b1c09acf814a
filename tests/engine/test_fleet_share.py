"""A carrier's binds shared out over the live nodes (engine.carriers.fleet.share)."""

from __future__ import annotations

import pytest

from engine.carriers.fleet import share


@pytest.mark.parametrize("nodes", [1, 2, 3, 5])
@pytest.mark.parametrize("binds", [1, 2, 3, 4, 7, 10])
def test_the_nodes_hold_the_carriers_binds_between_them_evenly(binds: int, nodes: int) -> None:
    members = [3, 17, 40, 41, 900][:nodes]  # node numbers need not be dense
    parts = [share(binds, members, node, "vodafone") for node in members]
    if binds >= nodes:
        assert sum(parts) == binds  # the carrier's limit, in total
        assert max(parts) - min(parts) <= 1
    else:  # the known limitation (docs/deployment.md): never zero, so one each, more than the carrier allows
        assert parts == [1] * nodes


def test_the_extra_binds_do_not_always_go_to_the_same_nodes() -> None:
    members = [1, 2, 3]
    holders = {
        tuple(share(4, members, node, carrier) for node in members) for carrier in ("a", "b", "c", "d", "e")
    }
    assert len(holders) > 1
