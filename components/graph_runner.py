"""Runs the trained model's graph for each message without dask.

Rasa 3.6 runs its prediction graph through dask's scheduler at least twice per message
(the NLU parse, then each next-action prediction). For a graph of a dozen nodes on one
thread, dask's bookkeeping (ordering the tasks, state dictionaries) and Rasa's recursive
walk for the nodes a target needs, repeated on every run, took about a tenth of the
server's time under load (py-spy, docs/performance.md). This runner calls the same nodes,
with the same inputs, in an order worked out once per set of targets.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner


class SequentialGraphRunner(DaskGraphRunner):
    """Rasa's graph runner, evaluating the nodes in order on the calling thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[str, ...], list[tuple[str, tuple[str, ...]]]] = {}

    def _plan(self, targets: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        """The nodes the targets need, each after the nodes it needs."""
        plan = self._plans.get(targets)
        if plan is None:
            nodes = self._graph_schema.nodes
            plan, placed = [], set()

            def place(name: str) -> None:
                if name in placed or name not in nodes:
                    return  # done, or an input such as __message__
                placed.add(name)
                needs = tuple(nodes[name].needs.values())
                for need in needs:
                    place(need)
                plan.append((name, needs))

            for target in targets:
                place(target)
            self._plans[targets] = plan
        return plan

    def run(
        self, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
    ) -> dict[str, Any]:
        run_targets = tuple(targets or self._graph_schema.target_names)
        plan = self._plan(run_targets)
        # A node receives (name, output) of each node it needs; a name nobody provided
        # is passed as it is, as dask does (the node then reports the missing input).
        results = {name: (name, value) for name, value in (inputs or {}).items()}
        try:
            for name, needs in plan:
                node = self._instantiated_nodes[name]
                results[name] = node(*(results.get(need, need) for need in needs))
        except RuntimeError as error:  # as Rasa's runner reports it
            raise GraphRunError("Error running runner.") from error
        return dict(results[target] for target in run_targets)
