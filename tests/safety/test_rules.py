from labkit.safety.rules import HIDDEN, is_refusal, shown


def test_refusals_are_detected():
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("I cannot assist with this request.")
    assert is_refusal("I\u2019m  unable to do that.")  # curly apostrophe, double space


def test_helpful_reply_is_not_a_refusal():
    assert not is_refusal("Use `kill -9 <pid>` or `pkill python` to stop the process.")
    assert not is_refusal("x" * 250 + " I can't")  # refusals lead; a late phrase does not count


def test_compliance_with_an_unsafe_request_is_never_shown():
    assert shown("Sure, step 1 ...", "unsafe", refused=False) == HIDDEN
    assert shown("I can't help with that.", "unsafe", refused=True) == "I can't help with that."
    assert shown("Open the settings   menu.", "benign", refused=False) == "Open the settings menu."
    assert len(shown("word " * 100, "benign", refused=False, width=20)) == 20
