"""``python -m lessons.warm``: with ``--jobs N`` what another model needs is built in an earlier stage."""

import pytest

from lessons import warm


def test_stages_build_what_others_need_first():
    names = [name for name, _ in warm.warmers()]
    stage = {name: warm._stage(name) for name in names}
    def of(prefix):
        return [n for n in names if n.startswith(prefix)]
    assert {stage[n] for n in of("models.")} == {0}  # lesson 00's models, which others start from
    for later in of("audit:") + of("defences:"):  # they measure or wrap lesson 05's models
        assert all(stage[later] > stage[n] for n in of("recipes:") + of("models."))
    # the course table measures every model of lessons 05 and 08 with lesson 07's ensemble
    assert stage["certify:course-table"] > max(s for n, s in stage.items() if n != "certify:course-table")


def test_jobs_must_be_a_positive_count(capsys):
    with pytest.raises(SystemExit):
        warm.main(["--jobs", "0"])
    assert "--jobs must be a positive number of processes, got 0" in capsys.readouterr().err
