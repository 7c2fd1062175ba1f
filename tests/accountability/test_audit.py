import pytest

from labkit.accountability.audit import AuditTrail, check_intact, file_sha256, model_weights, verify
from labkit.errors import DataError


def test_sha256_of_a_known_string(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    assert file_sha256(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_one_flipped_byte_is_found_and_named(tmp_path):
    files = {name: tmp_path / name for name in ("data.jsonl", "config.json", "weights.bin")}
    for i, path in enumerate(files.values()):
        path.write_bytes(bytes(range(i, i + 200)))
    trail = AuditTrail(tmp_path / "manifest.json")
    trail.record("data", [files["data.jsonl"]])
    trail.record("train", [files["config.json"], files["weights.bin"]])
    assert verify(trail.manifest) == [] and check_intact(trail.manifest) == 3
    raw = bytearray(files["weights.bin"].read_bytes())
    raw[100] ^= 1
    files["weights.bin"].write_bytes(bytes(raw))
    (problem,) = verify(trail.manifest)
    assert (problem.stage, problem.why) == ("train", "changed") and problem.path.endswith("weights.bin")
    files["data.jsonl"].unlink()
    with pytest.raises(DataError, match=r"2 file\(s\).*data.jsonl missing.*weights.bin changed"):
        check_intact(trail.manifest)


def test_a_trail_resumes_or_starts_fresh(tmp_path):
    (tmp_path / "f").write_text("x")
    AuditTrail(tmp_path / "m.json").record("one", [tmp_path / "f"])
    assert set(AuditTrail(tmp_path / "m.json", fresh=False).stages) == {"one"}
    assert AuditTrail(tmp_path / "m.json").stages == {}
    with pytest.raises(DataError, match="not a file"):
        AuditTrail(tmp_path / "m.json").record("two", [tmp_path])


def test_model_weights_of_a_course_model():
    (weights,) = model_weights("minilm-l6")
    assert weights.name == "model.safetensors" and weights.stat().st_size > 10_000_000
