"""autograde's ETA: per assignment, not from the first (largest) notebook's time."""

from __future__ import annotations

from grader.autograde import Estimate


def test_estimate_waits_for_two_assignments_then_uses_their_times():
    # Two capstones (graded first, 50 s each) and four small notebooks of two other assignments.
    todo = [("08_capstone", 27_000)] * 2 + [("07_output", 22_000)] * 2 + [("02_attention", 11_000)] * 2
    estimate = Estimate(todo, workers=2)
    estimate.finish("08_capstone", 50.0)
    estimate.finish("08_capstone", 50.0)
    assert estimate.text() == "ETA estimating..."  # a per-notebook extrapolation said 4 x 50 s / 2 = 1:40
    estimate.finish("07_output", 11.0)
    # 07_output left: 11 s; 02_attention unseen: 11,000 chars at 11/22,000 s per char = 5.5 s each.
    assert estimate.text() == f"ETA 0:{round((11 + 5.5 + 5.5) / 2):02d}"
    for assignment in ("07_output", "02_attention", "02_attention"):
        estimate.finish(assignment, 5.0)
    assert estimate.text() == "ETA 0:00"


def test_one_assignment_waits_for_every_worker():
    estimate = Estimate([("03_masking", 100)] * 4, workers=2)
    estimate.finish("03_masking", 4.0)
    assert estimate.text() == "ETA estimating..."
    estimate.finish("03_masking", 6.0)
    assert estimate.text() == "ETA 0:05"
