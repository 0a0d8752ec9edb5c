"""The course's tooling: graders of the notebooks' exercises, the student-notebook tool,
the grading command for a class, the check report and the diagrams.

Nothing here is part of the paper's mathematics; it teaches and verifies it.
"""
