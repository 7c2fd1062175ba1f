"""labkit.widgets: the knob calls its plain view at the start and on every move."""

from labkit import widgets


def test_knob_shows_the_view_at_the_default_and_after_each_move():
    seen = []

    def view(value):
        seen.append(value)
        return f"value {value}"

    box = widgets.knob(view, [0.5, 0.6, 0.7, 0.8, 0.9], "threshold")
    slider = box.children[0]
    assert seen == [0.7] and slider.value == 0.7
    slider.value = 0.9
    assert seen == [0.7, 0.9]


def test_knob_starts_where_it_is_told():
    seen = []
    widgets.knob(seen.append, [1, 2, 3], "beta", value=1)
    assert seen == [1]
