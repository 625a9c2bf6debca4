import pytest
import torch
from matplotlib.figure import Figure

from lessons import viz


def test_triptych_layout_titles_and_difference(cnn, digits):
    x, _ = digits
    x_adv = (x[:2] + 0.05).clamp(0, 1)
    fig = viz.triptych(x[:2], x_adv, model=cnn, magnify=10)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert fig.axes[0].get_title().startswith("original") and fig.axes[2].get_title().startswith("adversarial")
    assert "%" in fig.axes[0].get_title()  # the model's confidence is shown
    middle = fig.axes[1].images[0].get_array()
    assert abs(float(middle.max()) - 1.0) < 1e-6 or float(middle.max()) > 0.9  # 0.5 + 10·0.05 = 1.0


def test_triptych_rejects_mismatched_or_bad_images(digits):
    x, _ = digits
    with pytest.raises(ValueError, match="same shape"):
        viz.triptych(x[:2], x[:3])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        viz.triptych(x[:1], x[:1] * 300)
    with pytest.raises(ValueError, match="magnify must be in"):
        viz.triptych(x[:1], x[:1], magnify=-1)


def test_image_grid_and_titles(digits):
    x, y = digits
    fig = viz.image_grid(x[:10], titles=[str(int(v)) for v in y[:10]], ncols=4)
    assert len(fig.axes) == 12 and fig.axes[0].get_title() == str(int(y[0]))
    with pytest.raises(ValueError, match="one entry per image"):
        viz.image_grid(x[:3], titles=["a"])


def test_confidence_bars_and_png():
    probs = torch.tensor([0.1, 0.6, 0.3])
    fig = viz.confidence_bars(probs, labels=["a", "b", "c"], k=2)
    ticks = sorted((t.get_position()[1], t.get_text()) for t in fig.axes[0].get_yticklabels())
    assert [name for _, name in ticks] == ["c", "b"]  # top-2 only, the most likely at the top
    assert viz.figure_png(fig).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="1-D tensor"):
        viz.confidence_bars(torch.rand(2, 3))


def test_to_numpy_image_handles_grey_and_rgb():
    assert viz.to_numpy_image(torch.rand(1, 1, 5, 6)).shape == (5, 6)
    assert viz.to_numpy_image(torch.rand(3, 5, 6)).shape == (5, 6, 3)
    with pytest.raises(ValueError, match="one image"):
        viz.to_numpy_image(torch.rand(2, 1, 5, 5))


def test_round_trip_logit_path_and_alignment_figures():
    fig = viz.round_trip_figure({"float": torch.tensor([0.9, 0.4]), "JPEG 75": torch.tensor([0.1, 0.0])},
                                names=["chelsea", "coffee"], target_name="ostrich")
    assert isinstance(fig, Figure) and "ostrich" in fig.axes[0].get_title()
    assert len(fig.axes[0].patches) == 4  # 2 photos × 2 codecs
    with pytest.raises(ValueError, match="one entry per photo"):
        viz.round_trip_figure({"float": torch.tensor([0.9, 0.4])}, names=["a"], target_name="ostrich")
    eps = [-0.1, 0.0, 0.1]
    logits = torch.tensor([[2.0, 0.0], [1.0, 0.5], [0.0, 1.0]])
    fig = viz.logit_path_figure(eps, logits, true_class=0, labels=["cat", "dog"])
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and lines[0].get_linewidth() > lines[1].get_linewidth()  # the true class stands out
    with pytest.raises(ValueError, match="true_class"):
        viz.logit_path_figure(eps, logits, true_class=5)
    with pytest.raises(ValueError, match="E = 3"):
        viz.logit_path_figure(eps, logits[:2], true_class=0)
    fig = viz.alignment_figure([10, 100], [1.0, 10.0], [0.3, 1.0])
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="same length"):
        viz.alignment_figure([10], [1.0, 2.0], [1.0])


def test_distance_figure_draws_one_panel_per_measure_and_every_value():
    groups = {"real": torch.tensor([1.0, 2.0, 3.0]), "fooling": torch.tensor([9.0, 10.0])}
    fig = viz.distance_figure({"L2": groups, "RMS": {"real": torch.tensor([0.1]), "fooling": torch.tensor([0.3])}})
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["real", "fooling"] and ax.get_xlabel() == "L2"
    xs = sorted(float(v) for coll in ax.collections for v in coll.get_offsets()[:, 0])
    assert xs == [1.0, 2.0, 3.0, 9.0, 10.0]  # every value drawn where it is: jitter is vertical only
    medians = sorted(line.get_xdata()[0] for line in ax.lines)
    assert medians == [2.0, 9.5]
    with pytest.raises(ValueError, match="finite"):
        viz.distance_figure({"L2": {"a": torch.tensor([float("nan")])}})
