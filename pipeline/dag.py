"""Stage graphs: order and cycles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class CycleError(ValueError):
    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("cycle: " + " -> ".join(cycle))


def topological_order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Stages ordered so that every stage comes after what it needs (ties keep file order)."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise CycleError(path[path.index(node) :] + [node])
        state[node] = 1
        for upstream in needs.get(node, ()):
            visit(upstream, path + [node])
        state[node] = 2
        order.append(node)

    for node in needs:
        visit(node, [])
    return order
