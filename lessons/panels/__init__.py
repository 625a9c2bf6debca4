"""The course's live panels, one module per lesson, built the same way in every notebook.

Introduced in lesson 00. A notebook writes ``from lessons import panels`` and shows
``panels.<name>(...)``: each function returns a ``widgets.Panel`` (or an object that displays
as one) whose rendering logic is plain Python, so tests drive it without a browser by setting
``panel.controls[name].value`` and reading ``panel.readout.value`` or ``panel.error``.

Lesson modules compute; ``viz`` draws; the panels here only connect controls to both.
"""

from .l00 import photo_attack
from .l01 import attack_explorer
from .l02 import transfer
from .l03 import LiveEvolution, evolution
from .l04 import Quiz, direction_explorer, quiz
from .l05 import robustness
from .l06 import knowledge
from .l07 import ensemble
from .l08 import guarantees

__all__ = [
    "photo_attack", "attack_explorer", "transfer", "evolution", "LiveEvolution", "quiz", "Quiz",
    "direction_explorer", "robustness", "knowledge", "ensemble", "guarantees",
]
