"""Graded exercises: per-student variants, checks with feedback, and the grader.

In a notebook::

    import nommu_lab as nl
    ex = nl.exercises.start("shm-one-address", STUDENT_ID)   # prints the variant
    ...
    ex.check("shm-same-address", share)                      # prints feedback, returns the score

``nommu-lab grade`` (:mod:`.grader`) grades a class's submissions, and
``nommu-lab release`` (:mod:`.release`) makes ``exercises/`` from
``solutions/``. This package may use the model, the boards and the
comparison; nothing below it imports it.
"""

from .framework import (
    EXERCISES,
    PRACTICE_ID,
    RESULTS,
    STUDENT_ENV,
    Exercise,
    Marker,
    PartResult,
    Score,
    Stop,
    get,
    part,
    resolve_student,
    seed_for,
    start,
)

__all__ = ["EXERCISES", "PRACTICE_ID", "RESULTS", "STUDENT_ENV", "Exercise", "Marker",
           "PartResult", "Score", "Stop", "get", "part", "resolve_student", "seed_for", "start"]
