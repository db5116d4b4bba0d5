"""Every malformed task folder gets a clear error: file, line or field, what was expected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import write_jsonl, write_retrieval, write_sts
from medbench.cli import cli, main
from medbench.errors import TaskFormatError
from medbench.tasks import discover


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(TaskFormatError) as info:
        discover([folder], include_builtin=False)
    return [str(p) for p in info.value.problems]


def test_valid_tasks_pass(tasks_root: Path) -> None:
    tasks = discover([tasks_root], include_builtin=False)
    assert [t.spec.name for t in tasks] == ["TinyRetrieval", "TinySTS"]
    stats = tasks[0].stats()["test"]["de"]
    assert stats == {"documents": 4, "queries": 3, "qrels": 4}
    assert tasks[1].stats()["test"]["de"] == {"pairs": 6}


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    folder = write_retrieval(tmp_path / "t", yaml_text=(
        "name: T1\ntype: retrieval\ndescription: x\nlanguages: [de]\nlicence: mit\n"))
    (msg,) = problems_of(folder)
    assert "task.yaml:5: licence: unknown key; did you mean 'license'?" in msg


def test_missing_and_wrong_keys_reported_together(tmp_path: Path) -> None:
    folder = write_retrieval(tmp_path / "t", yaml_text="name: 1bad\ntype: ranking\nlanguages: [xx]\n")
    msgs = "\n".join(problems_of(folder))
    assert "description: missing required key" in msgs
    assert "task.yaml:1: name: expected a task name" in msgs
    assert "task.yaml:2: type: expected one of: retrieval, sts" in msgs
    assert "task.yaml:3: languages: unknown language 'xx'" in msgs


def test_invalid_yaml_and_duplicate_key(tmp_path: Path) -> None:
    folder = write_retrieval(tmp_path / "a", yaml_text="name: [unclosed\n")
    assert "task.yaml:2: invalid YAML" in problems_of(folder)[0]
    folder = write_retrieval(tmp_path / "b", yaml_text=(
        "name: T\ntype: retrieval\ndescription: x\nlanguages: [de]\nname: T2\n"))
    assert any("task.yaml:5: name: key appears more than once" in m for m in problems_of(folder))


def test_invalid_json_line_and_non_utf8(tmp_path: Path) -> None:
    folder = write_retrieval(tmp_path / "t")
    with (folder / "corpus.jsonl").open("ab") as fh:
        fh.write(b'{"_id": "d9", "text": "broken\n')
        fh.write('{"_id": "d10", "text": "Gr\u00f6\u00dfe"}\n'.encode("latin-1"))
    msgs = problems_of(folder)
    assert any("corpus.jsonl:5: invalid JSON" in m for m in msgs)
    assert any("corpus.jsonl:6: not UTF-8 text" in m for m in msgs)


def test_duplicate_ids_empty_text_unknown_qrels(tmp_path: Path) -> None:
    folder = write_retrieval(tmp_path / "t")
    with (folder / "corpus.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"_id": "d1", "text": "again"}\n{"_id": "d7", "text": "  "}\n')
    with (folder / "qrels" / "test.tsv").open("a", encoding="utf-8") as fh:
        fh.write("q9\td1\t1\nq1\td99\t1\nq2\td2\tvery\n")
    msgs = "\n".join(problems_of(folder))
    assert "corpus.jsonl:5: _id: duplicate id 'd1' (first on line 1)" in msgs
    assert "corpus.jsonl:6: text: empty text" in msgs
    assert "test.tsv:6: query-id: unknown query id 'q9'" in msgs
    assert "test.tsv:7: corpus-id: unknown document id 'd99'" in msgs
    assert "test.tsv:8: score: score must be a whole number" in msgs


def test_query_without_relevant_document(tmp_path: Path) -> None:
    folder = write_retrieval(tmp_path / "t")
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "a"}, {"_id": "q2", "text": "b"},
                                           {"_id": "q3", "text": "c"}, {"_id": "q4", "text": "unjudged"}])
    with (folder / "qrels" / "test.tsv").open("a", encoding="utf-8") as fh:
        fh.write("q4\td2\t0\n")
    msgs = "\n".join(problems_of(folder))
    assert "query 'q4' has no relevant document (no score > 0)" in msgs


def test_sts_scores_out_of_range_and_not_numbers(tmp_path: Path) -> None:
    folder = write_sts(tmp_path / "s")
    with (folder / "test.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"sentence1": "a", "sentence2": "b", "score": 7}\n')
        fh.write('{"sentence1": "a", "sentence2": "b", "score": "high"}\n')
        fh.write('{"sentence1": "a", "score": 1}\n')
    msgs = "\n".join(problems_of(folder))
    assert "test.jsonl:7: score: score 7 outside the declared score_range [0, 5]" in msgs
    assert "test.jsonl:8: score: score must be a number, got 'high'" in msgs
    assert "test.jsonl:9: sentence2: missing field 'sentence2'" in msgs


def test_declared_split_and_language_without_data(tmp_path: Path) -> None:
    folder = write_retrieval(tmp_path / "t", lang_dirs=("de",), yaml_text=(
        "name: T\ntype: retrieval\ndescription: x\nlanguages: [de, en]\nsplits: [test, dev]\n"))
    msgs = "\n".join(problems_of(folder))
    assert "language 'en' is declared but has no folder en/" in msgs
    assert "de/qrels/dev.tsv: file not found" in msgs


def test_paths_must_stay_inside_the_task_folder(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "outside.jsonl", [{"_id": "x", "text": "secret"}])
    folder = write_retrieval(tmp_path / "t", yaml_text=(
        "name: T\ntype: retrieval\ndescription: x\nlanguages: [de]\npaths:\n  corpus: ../outside.jsonl\n"))
    assert any("leaves the task folder" in m and "paths.corpus" in m for m in problems_of(folder))
    folder2 = write_retrieval(tmp_path / "t2")
    (folder2 / "corpus.jsonl").unlink()
    os.symlink(tmp_path / "outside.jsonl", folder2 / "corpus.jsonl")
    assert any("leaves the task folder" in m for m in problems_of(folder2))


def test_duplicate_task_names(tmp_path: Path) -> None:
    write_retrieval(tmp_path / "root" / "a")
    write_retrieval(tmp_path / "root" / "b")
    assert any("task name 'TinyRetrieval' is already used" in m for m in problems_of(tmp_path / "root"))


def test_plain_beir_and_sts_folders_need_no_yaml(tmp_path: Path) -> None:
    write_retrieval(tmp_path / "root" / "my-beir", yaml_text="")
    write_sts(tmp_path / "root" / "my-pairs", yaml_text="")
    tasks = discover([tmp_path / "root"], include_builtin=False, language="de")
    assert [(t.spec.name, t.spec.type, t.spec.languages) for t in tasks] == [
        ("my-beir", "retrieval", ["de"]), ("my-pairs", "sts", ["de"])]


def test_cli_validate_exit_code_and_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    folder = write_sts(tmp_path / "s")
    with (folder / "test.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{oops\n")
    monkeypatch.setattr("sys.argv", ["medbench", "tasks", "validate", str(folder)])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "test.jsonl:7: invalid JSON" in err and "Traceback" not in err and "1 problem(s) found" in err


def test_cli_validate_ok(tasks_root: Path) -> None:
    result = CliRunner().invoke(cli, ["tasks", "validate", str(tasks_root)])
    assert result.exit_code == 0, result.output
    assert "ok  TinyRetrieval (retrieval) test/de: 4 documents, 3 queries, 4 qrels" in result.output


def test_revision_follows_evaluation_data_only(tmp_path: Path) -> None:
    folder = write_retrieval(tmp_path / "t")
    first = discover([folder], include_builtin=False)[0].revision
    write_jsonl(folder / "train.jsonl", [{"query": "Frage", "positive": "Antwort"}])
    assert discover([folder], include_builtin=False)[0].revision == first
    with (folder / "corpus.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"_id": "d5", "text": "Neuer Befund."}\n')
    assert discover([folder], include_builtin=False)[0].revision != first
