"""What the Studio says about spending: a sweep's or a replay's estimate before it runs (``costs``'
table, through ``budget.estimate``), and a budget's refusal in the status bar when a submit is
stopped (``BudgetExceeded``'s own words: which budget, what was not sent, how to go on).

The Studio's own budget (``Studio(budget=…)``) applies to what the Studio submits — its prompt
box, ``studio.imagine``, its sweeps and replays — with the kernel's and the tracker's budgets,
which also cover every card's buttons (the tracker's one paid-submit path).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import budget as budgets
from ..budget import Budget
from ..costs import Estimate
from ..errors import BudgetExceeded

__all__ = ["budgets_that_apply", "estimate_text", "refusal_text"]


def budgets_that_apply(own: Sequence[Budget], tracker_budgets: Sequence[Budget]) -> list[Budget]:
    """The kernel's budget, the tracker's and the Studio's own: each counted once."""
    found: list[Budget] = []
    for candidate in (budgets.kernel_budget(), *tracker_budgets, *own):
        if candidate is not None and all(candidate is not known for known in found):
            found.append(candidate)
    return found


def estimate_text(what: str, estimate: Estimate, limits: Sequence[Budget]) -> str:
    """``sweep of 6 prompts: ≈ 6.0 Fast GPU minutes for 6 jobs (6 × imagine)`` and, when a
    budget cannot pay for all of it, where it will stop."""
    text = f"{what}: {estimate}"
    for limit in limits:
        left_minutes, left_jobs = limit.remaining_minutes, limit.remaining_jobs
        short = []
        if left_minutes is not None and estimate.gpu_minutes > left_minutes + 1e-9:
            short.append(f"{left_minutes:g} Fast GPU min")
        if left_jobs is not None and estimate.jobs > left_jobs:
            short.append(f"{left_jobs} job(s)")
        if short:
            text += (
                f" · the {limit.name} has {' and '.join(short)} left: submits stop there, "
                "what runs goes on"
            )
    return text


def refusal_text(exc: BudgetExceeded | str) -> str:
    """The status bar's line for a submit a budget stopped."""
    words = str(exc).removeprefix("not sent: ")
    return f"Budget: {words}"
