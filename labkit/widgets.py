"""Interaction in the notebooks: a chat box and a knob, each with a plain twin that works headless."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from labkit.evaluate import generate


def chat(model, tokenizer, message: str, max_new_tokens: int = 64, system: str | None = None) -> str:
    """One greedy reply: the plain-text fallback of :func:`chat_widget` (works headless)."""
    return generate(model, tokenizer, [message], max_new_tokens=max_new_tokens, system=system)[0]


def chat_widget(model, tokenizer, max_new_tokens: int = 64, system: str | None = None):
    """An ipywidgets chat box: type a message, press Enter or *Send*, read the reply.

    Replies are greedy, so the same question always gets the same answer: handy for comparing a
    model before and after fine-tuning.
    """
    import ipywidgets as widgets

    box = widgets.Text(placeholder="Ask the model something and press Enter", layout=widgets.Layout(width="70%"))
    send = widgets.Button(description="Send", button_style="primary")
    log = widgets.Output(layout=widgets.Layout(border="1px solid #ddd", padding="4px", max_height="300px",
                                               overflow="auto"))

    def on_send(_=None) -> None:
        message = box.value.strip()
        if not message:
            return
        box.value = ""
        with log:
            print(f"you:   {message}")
            print(f"model: {chat(model, tokenizer, message, max_new_tokens, system)}\n")

    send.on_click(on_send)
    box.on_submit(on_send)
    return widgets.VBox([widgets.HBox([box, send]), log])


def knob(view: Callable[[Any], Any], values: Sequence[Any], description: str, value: Any = None):
    """A slider over ``values`` that shows ``view(value)`` each time it moves: a figure, a table, a line.

    The lesson stays in ``view``, a plain function: headless (CI, nbconvert, the page on GitHub)
    the notebook shows ``view`` at the default value, and the slider only calls it again. Returns
    the widget; ``knob(...).children[0]`` is the slider.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    values = list(values)
    slider = widgets.SelectionSlider(options=values, value=values[len(values) // 2] if value is None else value,
                                     description=description, continuous_update=False,
                                     style={"description_width": "initial"}, layout=widgets.Layout(width="60%"))
    out = widgets.Output()

    def show(_=None) -> None:
        out.clear_output(wait=True)
        with out:
            result = view(slider.value)
            if result is not None:
                display(result)
            plt.show()  # a figure the view drew lands in this output, not below the widget

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, out])
