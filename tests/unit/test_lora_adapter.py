"""LoRA adapter integrity: a catalog of named broken adapters, each caught with its reason code."""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from blocks.errors import ExitCode, UsageError
from tasks.checkpoints.safetensors_format import SafetensorsError, read_safetensors_header
from tasks.lora.adapter import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    AdapterProblem,
    directory_sha256,
    inspect_adapter,
)
from tests.lora_adapters import write_adapter, write_safetensors

P = AdapterProblem
TARGETS = ["q_proj", "v_proj"]
STEM = "base_model.model.model.layers.{}.self_attn.{}"


@pytest.fixture
def adapter(tmp_path: Path) -> Path:
    return write_adapter(tmp_path / "adapter", rank=8, target_modules=TARGETS, hidden=16)


def raw_weights(header: dict | bytes, data: bytes = b"", *, length: int | None = None) -> bytes:
    """Hand-built safetensors bytes, so a test can make the header say anything."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def one_tensor(**changes) -> dict:
    entry = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]} | changes
    return {"t": entry}


def set_config(path: Path, **changes) -> None:
    config = json.loads((path / CONFIG_FILE).read_text()) | changes
    (path / CONFIG_FILE).write_text(json.dumps({k: v for k, v in config.items() if v is not ...}))


def rewrite_weights(path: Path, keep: Callable[[str], bool], reshape: dict | None = None) -> None:
    """Re-save the adapter's tensors, dropping some or giving some a new shape."""
    header = read_safetensors_header(path / WEIGHTS_FILE)
    tensors = {}
    for info in header.tensors:
        if keep(info.name):
            shape = (reshape or {}).get(info.name, info.shape)
            tensors[info.name] = ("F32", np.zeros(shape, dtype=np.float32))
    write_safetensors(path / WEIGHTS_FILE, tensors)


def test_valid_adapter_reports_its_shape(adapter: Path) -> None:
    report = inspect_adapter(adapter, expected_rank=8)
    assert report.ok and report.problems == []
    assert (report.rank, report.alpha, report.target_modules) == (8, 16, TARGETS)
    assert report.tensor_count == 2 * 2 * 2  # layers x modules x (A, B)
    assert report.parameters == 2 * 2 * (8 * 16 + 16 * 8)
    assert sorted(report.manifest) == [CONFIG_FILE, WEIGHTS_FILE]
    for name, sha in report.manifest.items():
        assert sha == hashlib.sha256((adapter / name).read_bytes()).hexdigest()
    lines = "".join(f"{n} {s}\n" for n, s in sorted(report.manifest.items()))
    assert report.sha256 == hashlib.sha256(lines.encode()).hexdigest()
    assert report.total_bytes == sum(p.stat().st_size for p in adapter.iterdir())


def test_directory_sha_changes_with_one_byte(adapter: Path) -> None:
    before = inspect_adapter(adapter).sha256
    (adapter / "README.md").write_text("notes\n")
    after = inspect_adapter(adapter)
    assert after.ok and after.sha256 != before and "README.md" in after.manifest
    assert directory_sha256(after.manifest) == after.sha256


@pytest.mark.parametrize("dtype", ["F16", "BF16", "F32", "F64"])
@pytest.mark.parametrize("poison", ["nan", "inf"])
def test_non_finite_values_are_found_in_every_float_dtype(
    tmp_path: Path, dtype: str, poison: str
) -> None:
    path = write_adapter(tmp_path / "a", rank=4, target_modules=TARGETS, dtype=dtype, poison=poison)
    report = inspect_adapter(path)
    assert report.codes == {P.NON_FINITE}
    (message,) = [p.message for p in report.problems]
    counts = "1 NaN and 0 Inf" if poison == "nan" else "0 NaN and 1 Inf"
    assert f"{STEM.format(0, 'q_proj')}.lora_A.weight ({dtype}) holds {counts}" in message


@pytest.mark.parametrize("dtype", ["F16", "BF16", "F64"])
def test_clean_adapters_in_each_dtype_pass(tmp_path: Path, dtype: str) -> None:
    report = inspect_adapter(
        write_adapter(tmp_path / "a", rank=4, target_modules=TARGETS, dtype=dtype)
    )
    assert report.ok, report.problems


def test_bf16_is_decoded_as_the_top_half_of_float32(tmp_path: Path) -> None:
    path = write_adapter(tmp_path / "a", rank=2, target_modules=["q_proj"], dtype="BF16", seed=7)
    reference = write_adapter(tmp_path / "b", rank=2, target_modules=["q_proj"], seed=7)
    header = read_safetensors_header(path / WEIGHTS_FILE)
    first = header.tensors[0]
    bits = np.frombuffer((path / WEIGHTS_FILE).read_bytes()[header.data_start :], "<u2")
    decoded = (bits[: first.elements].astype(np.uint32) << 16).view(np.float32)
    ref_header = read_safetensors_header(reference / WEIGHTS_FILE)
    exact = np.frombuffer((reference / WEIGHTS_FILE).read_bytes()[ref_header.data_start :], "<f4")
    np.testing.assert_allclose(decoded, exact[: first.elements], rtol=1e-2)


def _drop_b(path: Path) -> None:
    rewrite_weights(path, lambda n: n != f"{STEM.format(1, 'v_proj')}.lora_B.weight")


def _wrong_a_shape(path: Path) -> None:
    name = f"{STEM.format(0, 'q_proj')}.lora_A.weight"
    rewrite_weights(path, lambda n: True, {name: (4, 16)})


def _stray_module(path: Path) -> None:
    set_config(path, target_modules=["q_proj"])


def _unserved_target(path: Path) -> None:
    set_config(path, target_modules=["q_proj", "v_proj", "k_proj"])


def _config_rank_differs(path: Path) -> None:
    set_config(path, r=4)


# fmt: off
SHAPE_CASES = [
    # name, mutate, expected_rank, fragment of the message
    pytest.param(_drop_b, None, "layers.1.self_attn.v_proj has lora_A but no lora_B",
                 id="missing-B-for-a-module"),
    pytest.param(_wrong_a_shape, None, "q_proj.lora_A.weight has shape [4, 16]; expected [r, in]",
                 id="A-rank-axis-wrong"),
    pytest.param(_stray_module, None, "v_proj has LoRA tensors but is not in target_modules",
                 id="module-not-targeted"),
    pytest.param(_unserved_target, None, "target module 'k_proj' has no lora_A/lora_B tensors",
                 id="target-without-tensors"),
    pytest.param(_config_rank_differs, None, "expected [out, r], r=4", id="config-r-vs-tensors"),
    pytest.param(lambda p: None, 16, "config r=8 but rank 16 was expected", id="wrong-rank"),
]
# fmt: on


@pytest.mark.parametrize(("mutate", "expected_rank", "fragment"), SHAPE_CASES)
def test_shape_mismatches(
    adapter: Path, mutate: Callable, expected_rank: int | None, fragment: str
) -> None:
    mutate(adapter)
    report = inspect_adapter(adapter, expected_rank=expected_rank)
    assert report.codes == {P.SHAPE_MISMATCH}
    assert any(fragment in p.message for p in report.problems), report.problems


def test_rank_pattern_gives_a_module_its_own_rank(adapter: Path) -> None:
    set_config(adapter, r=8, rank_pattern={"v_proj": 4})
    assert inspect_adapter(adapter).codes == {P.SHAPE_MISMATCH}  # v_proj tensors are rank 8
    set_config(adapter, rank_pattern={})
    assert inspect_adapter(adapter).ok


def test_regex_target_modules_are_matched_against_full_names(adapter: Path) -> None:
    set_config(adapter, target_modules=r".*\.(q_proj|v_proj)")
    assert inspect_adapter(adapter).ok
    set_config(adapter, target_modules=r".*\.q_proj")
    report = inspect_adapter(adapter)
    assert (
        report.codes == {P.SHAPE_MISMATCH} and "not in target_modules" in report.problems[0].message
    )


# fmt: off
BAD_CONFIGS = [
    pytest.param("{not json", "not valid JSON", id="invalid-json"),
    pytest.param("[1, 2]", "must be a JSON object", id="not-an-object"),
    pytest.param({"r": ...}, "r is None", id="missing-r"),
    pytest.param({"r": 0}, "r is 0", id="zero-r"),
    pytest.param({"r": "8"}, "r is '8'", id="string-r"),
    pytest.param({"r": True}, "r is True", id="bool-r"),
    pytest.param({"lora_alpha": ...}, "lora_alpha is None", id="missing-alpha"),
    pytest.param({"lora_alpha": "16"}, "lora_alpha is '16'", id="string-alpha"),
    pytest.param({"target_modules": ...}, "target_modules is None", id="missing-targets"),
    pytest.param({"target_modules": []}, "target_modules is []", id="empty-targets"),
    pytest.param({"target_modules": "(["}, "not a valid regular expression", id="bad-regex"),
    pytest.param({"peft_type": "PREFIX_TUNING"}, "peft_type is 'PREFIX_TUNING'", id="not-lora"),
    pytest.param({"peft_type": ...}, "peft_type is None", id="missing-peft-type"),
    pytest.param({"rank_pattern": {"q_proj": 0}}, "rank_pattern is", id="bad-rank-pattern"),
    pytest.param({"rank_pattern": {"[": 4}}, "rank_pattern is", id="rank-pattern-bad-regex"),
]
# fmt: on


@pytest.mark.parametrize(("change", "fragment"), BAD_CONFIGS)
def test_bad_configs(adapter: Path, change: str | dict, fragment: str) -> None:
    if isinstance(change, str):
        (adapter / CONFIG_FILE).write_text(change)
    else:
        set_config(adapter, **change)
    report = inspect_adapter(adapter)
    assert report.codes == {P.BAD_CONFIG}, report.problems
    assert fragment in report.problems[0].message
    assert report.manifest, "a bad config still gets its files hashed"


def _truncate(path: Path) -> None:
    data = (path / WEIGHTS_FILE).read_bytes()
    (path / WEIGHTS_FILE).write_bytes(data[:-10])


def _header(header: dict | bytes, data: bytes = b"", **kwargs) -> Callable[[Path], None]:
    return lambda path: (path / WEIGHTS_FILE).write_bytes(raw_weights(header, data, **kwargs))


def _trailing_bytes(path: Path) -> None:
    with (path / WEIGHTS_FILE).open("ab") as handle:
        handle.write(b"\0" * 4)


TWO = {  # two F32 [2, 2] tensors sharing bytes 8..16
    "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
    "b": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]},
}

# fmt: off
BAD_HEADERS = [
    pytest.param(_truncate, "tensors cover", id="truncated-file"),
    pytest.param(_header(b"", length=None), "not valid JSON", id="empty-header"),
    pytest.param(lambda p: (p / WEIGHTS_FILE).write_bytes(b"\x01\x02"), "shorter than the 8-byte",
                 id="shorter-than-length"),
    pytest.param(_header(one_tensor(), b"\0" * 16, length=10_000), "runs past the end",
                 id="header-length-lying-long"),
    pytest.param(_header(one_tensor(), b"\0" * 16, length=20), "not valid JSON",
                 id="header-length-lying-short"),
    pytest.param(_header(b"{}", length=200_000_000), "exceeds the 100000000 byte limit",
                 id="header-length-over-100MB"),
    pytest.param(_header(b"[1, 2]"), "header is list", id="header-not-object"),
    pytest.param(_header(TWO, b"\0" * 24), "tensor 'b' overlaps 'a'", id="offsets-overlapping"),
    pytest.param(_header(one_tensor(data_offsets=[4, 20]), b"\0" * 20), "gap of 4 bytes",
                 id="offsets-gap"),
    pytest.param(_header(one_tensor(data_offsets=[0, 12]), b"\0" * 12), "needs 16",
                 id="size-not-shape-times-dtype"),
    pytest.param(_header(one_tensor(data_offsets=[16, 0]), b"\0" * 16), "are invalid",
                 id="offsets-reversed"),
    pytest.param(_header(one_tensor(dtype="F7"), b"\0" * 16), "unknown dtype 'F7'",
                 id="unknown-dtype"),
    pytest.param(_header(one_tensor(shape=[2, -2]), b"\0" * 16), "is not a list of ints",
                 id="negative-shape"),
    pytest.param(_trailing_bytes, "but the file holds", id="bytes-after-last-tensor"),
    pytest.param(_header(b'{"t": {}, "t": {}}'), "duplicate key 't'", id="duplicate-key"),
    pytest.param(_header({"__metadata__": {"n": 1}}), "__metadata__ must map", id="bad-metadata"),
    pytest.param(_header(b"\xff\xfe"), "not valid JSON", id="not-utf8"),
]
# fmt: on


@pytest.mark.parametrize(("mutate", "fragment"), BAD_HEADERS)
def test_bad_headers(adapter: Path, mutate: Callable, fragment: str) -> None:
    mutate(adapter)
    with pytest.raises(SafetensorsError) as caught:
        read_safetensors_header(adapter / WEIGHTS_FILE)
    assert caught.value.code == ExitCode.VERDICT_FAILED
    report = inspect_adapter(adapter)
    assert report.codes == {P.BAD_HEADER}, report.problems
    assert fragment in report.problems[0].message


def test_well_formed_file_without_lora_tensors(adapter: Path) -> None:
    (adapter / WEIGHTS_FILE).write_bytes(raw_weights(one_tensor(), b"\0" * 16))
    report = inspect_adapter(adapter)
    assert report.codes == {P.SHAPE_MISMATCH} and report.tensor_count == 1
    assert [p.message for p in report.problems] == [
        "target module 'q_proj' has no lora_A/lora_B tensors",
        "target module 'v_proj' has no lora_A/lora_B tensors",
    ]


# fmt: off
PICKLES = [
    pytest.param("adapter_model.bin", b"anything", "pickle-format file refused", id="bin"),
    pytest.param("optimizer.pt", b"anything", "pickle-format file refused", id="pt"),
    pytest.param("rng_state.pth", b"", "pickle-format file refused", id="pth"),
    pytest.param("state.PKL", b"", "pickle-format file refused", id="pkl-uppercase"),
    pytest.param("last.ckpt", b"", "pickle-format file refused", id="ckpt"),
    pytest.param("training_args", b"\x80\x04\x95\x00", "starts with pickle magic", id="magic"),
    pytest.param("sub/extra.json", b"\x80\x02}q\x00.", "starts with pickle magic",
                 id="magic-in-subdir"),
]
# fmt: on


@pytest.mark.parametrize(("name", "content", "fragment"), PICKLES)
def test_pickle_files_are_refused(adapter: Path, name: str, content: bytes, fragment: str) -> None:
    (adapter / name).parent.mkdir(exist_ok=True)
    (adapter / name).write_bytes(content)
    report = inspect_adapter(adapter)
    assert report.codes == {P.PICKLE_FILE}
    assert report.problems[0].message == f"{name}: {fragment}" + (
        ", refused" if "magic" in fragment else ""
    )


def test_torch_zip_archive_holding_a_pickle_is_refused(adapter: Path) -> None:
    with zipfile.ZipFile(adapter / "weights.zip", "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02.")
    report = inspect_adapter(adapter)
    assert report.codes == {P.PICKLE_FILE}


def test_pickle_disguised_as_safetensors_is_refused(adapter: Path) -> None:
    (adapter / WEIGHTS_FILE).write_bytes(b"\x80\x04\x95" + b"\0" * 64)
    assert inspect_adapter(adapter).codes == {P.BAD_HEADER, P.PICKLE_FILE}


def test_missing_config(adapter: Path) -> None:
    (adapter / CONFIG_FILE).unlink()
    report = inspect_adapter(adapter)
    assert report.codes == {P.MISSING_CONFIG}
    assert report.rank is None and report.tensor_count == 8  # weights are still checked


def test_missing_weights_next_to_a_pickled_copy(adapter: Path) -> None:
    (adapter / WEIGHTS_FILE).rename(adapter / "adapter_model.bin")
    assert inspect_adapter(adapter).codes == {P.MISSING_WEIGHTS, P.PICKLE_FILE}


def test_size_limit_skips_hashing_and_scanning(adapter: Path) -> None:
    report = inspect_adapter(adapter, max_bytes=100)
    assert report.codes == {P.SIZE_LIMIT}
    assert "over the 100 byte limit" in report.problems[0].message
    assert report.manifest == {} and report.sha256 == "" and report.total_bytes > 100


@pytest.mark.parametrize(
    "weights",
    [raw_weights({}), raw_weights(one_tensor(shape=[0, 4], data_offsets=[0, 0]))],
    ids=["no-tensors", "zero-elements"],
)
def test_empty_weights(adapter: Path, weights: bytes) -> None:
    (adapter / WEIGHTS_FILE).write_bytes(weights)
    report = inspect_adapter(adapter)
    assert report.codes == {P.EMPTY}


def test_empty_directory(tmp_path: Path) -> None:
    assert inspect_adapter(tmp_path).codes == {P.EMPTY, P.MISSING_CONFIG, P.MISSING_WEIGHTS}


@pytest.mark.parametrize("make", ["missing", "file"])
def test_path_that_is_not_a_directory(tmp_path: Path, make: str) -> None:
    path = tmp_path / "adapter"
    if make == "file":
        path.write_text("x")
    report = inspect_adapter(path)
    assert not report.ok and report.codes == {P.MISSING_CONFIG, P.MISSING_WEIGHTS}
    assert ("does not exist" if make == "missing" else "not a directory") in report.problems[
        0
    ].message


@pytest.mark.parametrize("kwargs", [{"max_bytes": 0}, {"expected_rank": 0}], ids=str)
def test_inspect_rejects_bad_arguments(adapter: Path, kwargs: dict) -> None:
    with pytest.raises(UsageError) as caught:
        inspect_adapter(adapter, **kwargs)
    assert caught.value.code == ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    "kwargs",
    [{"rank": 0}, {"layers": 0}, {"dtype": "I8"}, {"poison": "zero"}, {"target_modules": []}],
    ids=str,
)
def test_write_adapter_rejects_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    arguments = {"rank": 4, "target_modules": ["q_proj"]} | kwargs
    with pytest.raises(UsageError) as caught:
        write_adapter(tmp_path / "a", **arguments)
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert not (tmp_path / "a").exists()


def test_write_adapter_places_mlp_modules_under_mlp(tmp_path: Path) -> None:
    path = write_adapter(tmp_path / "a", rank=2, target_modules=["down_proj"], layers=1)
    names = [t.name for t in read_safetensors_header(path / WEIGHTS_FILE).tensors]
    assert names == [
        "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight",
        "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight",
    ]
    header_len = struct.unpack("<Q", (path / WEIGHTS_FILE).read_bytes()[:8])[0]
    assert header_len % 8 == 0
