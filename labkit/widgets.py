"""A small chat box for talking to a model inside JupyterLab, with a plain-text twin."""

from __future__ import annotations

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
