from labkit.exercises import check


def test_check_speaks_and_never_raises(capsys):
    check(None)
    check(0.5, 0.5000001)
    check("b", "a", hint="Look again.")
    check("x", ok=True)
    assert capsys.readouterr().out.splitlines() == [
        "Not answered yet: fill in the cell above and run this one again.", "Correct.", "Not yet. Look again.",
        "Correct."]
