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


# -- .jsonl qrels, paths: with {lang} and {split} ------------------------------------------------


def test_jsonl_qrels_of_other_splits_judge_their_queries(tmp_path: Path) -> None:
    """A BEIR folder whose train/dev qrels are .jsonl: their queries are judged, not 'without a relevant document'."""
    folder = write_retrieval(tmp_path / "beir", yaml_text="")
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "a"}, {"_id": "q2", "text": "b"},
                                           {"_id": "q3", "text": "c"}, {"_id": "t1", "text": "training question"},
                                           {"_id": "t2", "text": "dev question"}])
    write_jsonl(folder / "qrels" / "train.jsonl", [{"query-id": "t1", "corpus-id": "d2", "score": 1}])
    write_jsonl(folder / "qrels" / "dev.jsonl", [{"query-id": "t2", "corpus-id": "d4", "score": 1}])
    (task,) = discover([folder], include_builtin=False)
    assert task.spec.splits == ["test"] and task.stats()["test"]["en"] == {"documents": 4, "queries": 3, "qrels": 4}
    # a query that no qrels file of any split judges is still reported
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "a"}, {"_id": "q2", "text": "b"}, {"_id": "q3", "text": "c"},
                                           {"_id": "t1", "text": "x"}, {"_id": "t2", "text": "y"}, {"_id": "lost", "text": "z"}])
    (msg,) = problems_of(folder)
    assert "1 query has no relevant document in any qrels file, e.g. ['lost']" in msg


def test_jsonl_qrels_equal_tsv_qrels(tmp_path: Path) -> None:
    tsv = discover([write_retrieval(tmp_path / "tsv")], include_builtin=False)[0]
    folder = write_retrieval(tmp_path / "jsonl")
    (folder / "qrels" / "test.tsv").unlink()
    write_jsonl(folder / "qrels" / "test.jsonl", [{"query-id": q, "corpus-id": d, "score": s} for q, d, s in
                                                  [("q1", "d1", 2), ("q1", "d3", 1), ("q2", "d3", 2), ("q3", "d4", 2)]])
    jsonl = discover([folder], include_builtin=False)[0]
    assert jsonl.languages["de"].qrels == tsv.languages["de"].qrels == {"test": {"q1": {"d1": 2, "d3": 1}, "q2": {"d3": 2}, "q3": {"d4": 2}}}
    assert sorted(str(p.relative_to(folder)) for p in jsonl.files) == ["corpus.jsonl", "qrels/test.jsonl", "queries.jsonl"]
    write_jsonl(folder / "qrels" / "test.jsonl", [{"query-id": "q1", "corpus-id": "d1", "score": "2"},
                                                  {"query-id": "q1", "corpus-id": "d9", "score": 1},
                                                  {"query-id": "q2", "score": 1}])
    msgs = "\n".join(problems_of(folder))
    assert "test.jsonl:2: corpus-id: unknown document id 'd9'" in msgs
    assert "test.jsonl:3: missing field(s) ['corpus-id']" in msgs


def test_paths_with_lang_and_split_placeholders(tmp_path: Path) -> None:
    """paths: with {lang} and {split}: every language and split reads its own files."""
    from conftest import CORPUS, PAIRS, QUERIES, QRELS

    folder = tmp_path / "custom"
    for lang in ("de", "en"):
        write_jsonl(folder / "docs" / f"{lang}.jsonl", [{"_id": f"{lang}-{i}", "title": t, "text": x} for i, t, x in CORPUS])
        write_jsonl(folder / "questions" / f"{lang}.jsonl", [{"_id": i, "text": x} for i, x in QUERIES])
        for split, rows in (("test", QRELS), ("dev", QRELS[:2])):
            write_jsonl(folder / "judgements" / f"{split}-{lang}.jsonl",
                        [{"query-id": q, "corpus-id": f"{lang}-{d}", "score": s} for q, d, s in rows])
    (folder / "task.yaml").write_text(
        "name: Custom\ntype: retrieval\ndescription: x\nlanguages: [de, en]\nsplits: [test, dev]\npaths:\n"
        "  corpus: docs/{lang}.jsonl\n  queries: questions/{lang}.jsonl\n  qrels: judgements/{split}-{lang}.jsonl\n",
        encoding="utf-8")
    (task,) = discover([folder], include_builtin=False)
    assert task.stats() == {"test": {"de": {"documents": 4, "queries": 3, "qrels": 4}, "en": {"documents": 4, "queries": 3, "qrels": 4}},
                            "dev": {"de": {"documents": 4, "queries": 1, "qrels": 2}, "en": {"documents": 4, "queries": 1, "qrels": 2}}}
    assert task.languages["en"].qrels["dev"] == {"q1": {"en-d1": 2, "en-d3": 1}}
    assert sorted(str(p.relative_to(folder)) for p in task.files) == [
        "docs/de.jsonl", "docs/en.jsonl", "judgements/dev-de.jsonl", "judgements/dev-en.jsonl",
        "judgements/test-de.jsonl", "judgements/test-en.jsonl", "questions/de.jsonl", "questions/en.jsonl"]
    (folder / "judgements" / "dev-en.jsonl").unlink()
    assert any(m.endswith("judgements/dev-en.jsonl: file not found") for m in problems_of(folder))

    sts = tmp_path / "sts"
    for split in ("test", "dev"):
        write_jsonl(sts / "pairs" / f"de-{split}.jsonl",
                    [{"sentence1": a, "sentence2": b, "score": s} for a, b, s in PAIRS[:4 if split == "dev" else 6]])
    (sts / "task.yaml").write_text("name: CustomSTS\ntype: sts\ndescription: x\nlanguages: [de]\nsplits: [test, dev]\n"
                                   "paths:\n  pairs: pairs/{lang}-{split}.jsonl\n", encoding="utf-8")
    (task,) = discover([sts], include_builtin=False)
    assert task.stats() == {"test": {"de": {"pairs": 6}}, "dev": {"de": {"pairs": 4}}}


# -- every problem of every folder is reported, whatever came before ------------------------------


def broken_retrieval(folder: Path, bad_lines: int = 1) -> Path:
    write_retrieval(folder)
    with (folder / "qrels" / "test.tsv").open("a", encoding="utf-8") as fh:
        fh.writelines(f"q1\tmissing{i}\t1\n" for i in range(bad_lines))
    return folder


def test_problems_of_one_folder_do_not_hide_those_of_the_next(tmp_path: Path) -> None:
    broken_retrieval(tmp_path / "a" / "first")
    empty_sts = write_sts(tmp_path / "b" / "empty-sts")
    (empty_sts / "test.jsonl").write_text("\n", encoding="utf-8")
    empty_corpus = write_retrieval(tmp_path / "c" / "empty-corpus", yaml_text="name: EmptyCorpus\ntype: retrieval\n"
                                   "description: x\nlanguages: [de]\n")
    (empty_corpus / "corpus.jsonl").write_text("", encoding="utf-8")
    alone = {str(p) for d in ("b", "c") for p in problems_of(tmp_path / d)}
    assert any("empty-sts/test.jsonl: no sentence pairs" in m for m in alone)
    assert any("empty-corpus/corpus.jsonl: no documents" in m for m in alone)
    with pytest.raises(TaskFormatError) as info:
        discover([tmp_path / "a", tmp_path / "b", tmp_path / "c"], include_builtin=False)
    together = {str(p) for p in info.value.problems}
    assert any("first/qrels/test.tsv:6: corpus-id: unknown document id 'missing0'" in m for m in together)
    assert alone <= together


def test_problems_of_one_language_do_not_hide_those_of_the_next(tmp_path: Path) -> None:
    folder = write_retrieval(tmp_path / "bi", lang_dirs=("de", "en"))
    with (folder / "de" / "qrels" / "test.tsv").open("a", encoding="utf-8") as fh:
        fh.write("q1\td99\t1\n")
    (folder / "en" / "corpus.jsonl").write_text("", encoding="utf-8")
    msgs = "\n".join(problems_of(folder))
    assert "de/qrels/test.tsv:6: corpus-id: unknown document id 'd99'" in msgs
    assert "en/corpus.jsonl: no documents" in msgs


def test_an_empty_folder_is_reported_after_a_folder_with_problems(tmp_path: Path) -> None:
    first = tmp_path / "first"
    (first / "notes").mkdir(parents=True)
    (first / "notes" / "x.jsonl").write_text('{"a": 1}\n', encoding="utf-8")  # not a task folder
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["tasks", "validate", str(first), str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "notes: not a task folder" in result.output
    assert f"{tmp_path / 'empty'}: no tasks found" in result.output


def test_past_the_problem_limit_a_broken_task_yaml_is_still_rejected(tmp_path: Path) -> None:
    """Over 50 problems in one folder: the next folder's task.yaml is still checked, not used half-valid."""
    broken_retrieval(tmp_path / "root" / "a", bad_lines=60)
    (tmp_path / "root" / "b").mkdir()
    (tmp_path / "root" / "b" / "task.yaml").write_text("name: B\ntype: sts\ndescription: x\nlanguages: [de]\nsplits: 5\n",
                                                       encoding="utf-8")
    result = CliRunner().invoke(cli, ["tasks", "validate", str(tmp_path / "root")])
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # a clear message, not a crash
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.splitlines()
    assert sum("unknown document id" in line for line in lines) == 50  # the first 50 are shown
    assert "11 more problems not shown; fix these first" in result.output  # 10 more of a, 1 of b


def test_a_reference_that_is_not_a_web_address_is_caught_at_validation(tmp_path: Path) -> None:
    """mteb accepts only URLs there: caught by `tasks validate`, not later inside a run."""
    from medbench.errors import TaskFormatError
    from medbench.tasks import discover

    write_retrieval(tmp_path / "t", yaml_text="name: RefT\ntype: retrieval\ndescription: x\nlanguages: [de]\n"
                    "license: apache-2.0\nreference: docs/card.md\n")
    with pytest.raises(TaskFormatError, match=r"task.yaml:6: reference: expected a URL"):
        discover([tmp_path / "t"], include_builtin=False)


def test_task_yaml_messages_name_the_nested_key_its_line_and_a_close_match(tmp_path: Path) -> None:
    """paths: is checked like the top level: unknown keys, placeholders, leaving the folder, keys given twice."""
    folder = write_retrieval(tmp_path / "t", yaml_text=(
        "name: T\ntype: retreival\ndescription: x\nlangauges: [de]\npaths:\n  corpus: ../x.jsonl\n"
        "  querys: q.jsonl\n  qrels: qrels/{splt}.tsv\n  qrels: qrels/{split}.tsv\nscore_range: [5, 0]\n"))
    msgs = "\n".join(problems_of(folder))
    assert "task.yaml:2: type: expected one of: retrieval, sts, got 'retreival'; did you mean 'retrieval'?" in msgs
    assert "task.yaml:4: langauges: unknown key; did you mean 'languages'?" in msgs
    assert "languages: missing required key" not in msgs  # the suggestion says it already
    assert "task.yaml:6: paths.corpus: '../x.jsonl' leaves the task folder" in msgs
    assert "task.yaml:7: paths.querys: unknown key; did you mean 'queries'?" in msgs
    assert "task.yaml:9: paths.qrels: key appears more than once" in msgs
    assert "task.yaml:10: score_range: score_range only applies to type: sts" in msgs
    folder = write_retrieval(tmp_path / "u", yaml_text=(
        "name: U\ntype: retrieval\ndescription: x\nlanguages: [de]\npaths: {qrels: 'qrels/{splt}.tsv'}\n"))
    (msg,) = problems_of(folder)
    assert "task.yaml:5: paths.qrels: unknown placeholder {splt} in 'qrels/{splt}.tsv': use {lang} and {split}" in msg
    folder = write_retrieval(tmp_path / "v", yaml_text="name: V\ntype: retrieval\ndescription: [x\nlanguages: [de]\n")
    (msg,) = problems_of(folder)
    assert "task.yaml:4: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence that starts on line 3)" in msg
