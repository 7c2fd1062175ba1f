from labkit.safety.rules import is_refusal


def test_refusals_are_detected():
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("I cannot assist with this request.")


def test_helpful_reply_is_not_a_refusal():
    assert not is_refusal("Use `kill -9 <pid>` or `pkill python` to stop the process.")
