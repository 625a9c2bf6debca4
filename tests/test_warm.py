"""``python -m lessons.warm``: with ``--jobs N`` what another model needs is built in an earlier stage."""

import pytest

from lessons import certify, warm


def test_stages_build_what_others_need_first():
    names = [name for name, _ in warm.warmers()]
    stage = {name: warm._stage(name) for name in names}
    def of(prefix):
        return [n for n in names if n.startswith(prefix)]
    assert {stage[n] for n in of("models.")} == {0}  # lesson 00's models, which others start from
    for later in of("audit:") + of("defences:"):  # they measure or wrap lesson 05's models
        assert all(stage[later] > stage[n] for n in of("recipes:") + of("models."))
    # a row of the course table measures one model of lessons 05 or 08 with lesson 07's ensemble; lesson 05's
    # rows read the audit, so every row comes after every model and audit, and the table after every row
    rows = of("certify:course-row")
    assert len(rows) == len(certify.COURSE_MODELS)
    assert min(stage[r] for r in rows) > max(s for n, s in stage.items() if n not in rows and n != "certify:course-table")
    assert stage["certify:course-table"] > max(stage[r] for r in rows)


def test_jobs_must_be_a_positive_count(capsys):
    with pytest.raises(SystemExit):
        warm.main(["--jobs", "0"])
    assert "--jobs must be a positive number of processes, got 0" in capsys.readouterr().err
