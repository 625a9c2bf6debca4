"""Blind Spots: the helper library behind the course notebooks.

Import modules one way in every notebook: ``from lessons import attacks, data, models, viz``.
"""

__version__ = "0.1.0"
