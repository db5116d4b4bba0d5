"""Leaderboard: rows, means, order, intervals, base vs fine-tuned, the files, --check and the HTML table.

Most tests write result folders directly (fast); tests/test_publish.py runs the tiny model end to end.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from medbench import leaderboard as lb
from medbench.cli.board import leaderboard as leaderboard_cmd

SPLIT = "test"


# -- writing result folders directly ---------------------------------------------------------


def retrieval_items(ndcg: list[float], recall: list[float] | None = None, subset: str = "default") -> list[dict]:
    recall = recall if recall is not None else [1.0 if v > 0.3 else 0.0 for v in ndcg]
    return [{"split": SPLIT, "subset": subset, "id": f"q{i:03d}", "ndcg_at_10": n, "recall_at_5": r}
            for i, (n, r) in enumerate(zip(ndcg, recall, strict=True))]


def sts_items(gold: list[float], cosine: list[float], subset: str = "default") -> list[dict]:
    return [{"split": SPLIT, "subset": subset, "id": i, "gold": g, "cosine": c}
            for i, (g, c) in enumerate(zip(gold, cosine, strict=True))]


def scores_of(items: list[dict]) -> dict[str, float]:
    if "gold" in items[0]:
        from scipy.stats import spearmanr

        value = round(float(spearmanr([r["gold"] for r in items], [r["cosine"] for r in items]).statistic), 6)
        return {"cosine_spearman": value, "main_score": value}
    ndcg = round(sum(r["ndcg_at_10"] for r in items) / len(items), 5)
    return {"ndcg_at_10": ndcg, "recall_at_5": round(sum(r["recall_at_5"] for r in items) / len(items), 5), "main_score": ndcg}


def write_model(root: Path, name: str, revision: str, tasks: dict[str, dict[str, tuple[list[str], list[dict] | dict]]], *,
                dataset_revision: str = "data-v1", per_item: bool = True, meta: dict | None = None,
                run_log: list[dict] | None = None) -> Path:
    """tasks: {task: {subset: (languages, items or a dict of scores)}}."""
    folder = root / name.replace("/", "__") / revision
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_meta.json").write_text(json.dumps({"name": name, "revision": revision, **(meta or {})}))
    for task, subsets in tasks.items():
        entries, lines = [], []
        for subset, (languages, data) in subsets.items():
            scores = data if isinstance(data, dict) else scores_of(data)
            entries.append({**scores, "hf_subset": subset, "languages": languages})
            if per_item and not isinstance(data, dict):
                lines += data
        result = {"dataset_revision": dataset_revision, "task_name": task, "mteb_version": "2.0.0",
                  "scores": {SPLIT: entries}, "evaluation_time": 1.0}
        (folder / f"{task}.json").write_text(json.dumps(result, indent=2))
        if lines:
            (folder / "per_item").mkdir(exist_ok=True)
            (folder / "per_item" / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    if run_log is not None:  # as `medbench run` writes it: a line for every task of the folder
        logged = {e.get("task") for e in run_log}
        run_log = run_log + [{**run_log[0], "task": t} for t in tasks if t not in logged] if run_log else run_log
        (folder / lb.RUN_LOG).write_text("".join(json.dumps(e) + "\n" for e in run_log))
    return folder


RNG = np.random.default_rng(7)
GOLD = [float(x) for x in RNG.integers(0, 6, 30)]
BASE_NDCG = [round(float(x), 4) for x in RNG.uniform(0.0, 0.6, 40)]
BASE_COS = [round(g / 5 + float(e), 4) for g, e in zip(GOLD, RNG.normal(0, 0.5, 30), strict=True)]
TUNED_NDCG = [min(1.0, v + 0.3) for v in BASE_NDCG]
TUNED_COS = [round(g / 5 + float(e), 4) for g, e in zip(GOLD, RNG.normal(0, 0.1, 30), strict=True)]
DE, EN = ["deu-Latn"], ["eng-Latn"]
TASKS = {
    "TinyRetrieval": lb.TaskInfo("TinyRetrieval", "Retrieval", {"default": "de"}, "data-v1"),
    "TinySTS": lb.TaskInfo("TinySTS", "STS", {"default": "de"}, "data-v1"),
}


def suite(ndcg: list[float], cos: list[float], en_ndcg: float = 0.5) -> dict:
    return {
        "TinyRetrieval": {"default": (DE, retrieval_items(ndcg))},
        "TinySTS": {"default": (DE, sts_items(GOLD, cos))},
        # not a known task: its language comes from the entry's languages
        "SciFact": {"default": (EN, {"ndcg_at_10": en_ndcg, "recall_at_5": 0.7, "main_score": en_ndcg})},
    }


def finetune_log(base: str, base_revision: str) -> list[dict]:
    return [{"task": "TinySTS", "model": {"name": "medbench/ft", "source": "local", "location": "/nowhere"},
             "finetune": {"name": "ft", "base_model": base, "base_revision": base_revision, "recipe": "mnrl-small"}}]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_model(root, "org/base", "b1", suite(BASE_NDCG, BASE_COS))
    write_model(root, "medbench/ft", "f1", suite(TUNED_NDCG, TUNED_COS), run_log=finetune_log("org/base", "b1"))
    write_model(root, "medbench/same", "s1", suite(BASE_NDCG, BASE_COS), run_log=finetune_log("org/base", "b1"))
    # only the German retrieval task, without per-item scores
    write_model(root, "org/partial", "p1", {"TinyRetrieval": {"default": (DE, retrieval_items([0.9] * 5))}}, per_item=False)
    return root


def board_of(root: Path) -> lb.Board:
    return lb.build_board(lb.load_results([root]), TASKS)


def row(board: lb.Board, name: str) -> lb.BoardRow:
    return next(r for r in board.rows if r.name == name)


# -- rows, means, order ----------------------------------------------------------------------


def test_rows_means_order_and_missing_cells(results: Path) -> None:
    board = board_of(results)
    assert [r.name for r in board.rows] == ["medbench/ft", "medbench/same", "org/base", "org/partial"]  # tie: by name
    assert [r.rank for r in board.rows] == [1, 2, 3, None]  # org/partial lacks tasks of the mean: not ranked
    assert board.languages == ["de", "en"]
    assert [c.key for c in board.columns] == [
        "TinyRetrieval/de/test/ndcg_at_10", "TinyRetrieval/de/test/recall_at_5", "TinySTS/de/test/cosine_spearman",
        "SciFact/en/test/ndcg_at_10", "SciFact/en/test/recall_at_5"]
    base = row(board, "org/base")
    cells = {c.key: v.value for c, v in base.cells.items()}
    assert base.means["de"] == pytest.approx((cells["TinyRetrieval/de/test/ndcg_at_10"] + cells["TinySTS/de/test/cosine_spearman"]) / 2)
    assert base.means["en"] == pytest.approx(0.5)
    assert base.mean == pytest.approx((cells["TinyRetrieval/de/test/ndcg_at_10"] + cells["TinySTS/de/test/cosine_spearman"] + 0.5) / 3)
    partial = row(board, "org/partial")
    assert partial.mean is None and partial.means == {"de": None, "en": None}  # incomplete: no mean, ranked last
    md = lb.render_markdown(board)
    line = next(x for x in md.splitlines() if x.startswith(f"| {lb.MISSING} | `org/partial`") and "<br>" not in x and "p1" in x)
    assert line.count(lb.MISSING) == 4  # rank, mean, mean de, mean en
    german = md.split("## German (de)")[1].split("##")[0]
    partial_de = next(x for x in german.splitlines() if "`org/partial`" in x)
    assert partial_de.split(" | ")[2:] == ["0.900", "1.000", lb.MISSING, f"{lb.MISSING} |"]


def user_task(ndcg: float) -> dict:
    """A task of the user's own (not in TASKS): its language comes from the entry."""
    return {"UserTaskDE": {"default": (DE, {"ndcg_at_10": ndcg, "recall_at_5": ndcg, "main_score": ndcg})}}


def test_a_user_task_one_model_has_does_not_unrank_the_others(results: Path) -> None:
    """Issue 11.12: one model with an extra task must not turn every other mean into "–" and rank first."""
    before = board_of(results)
    weak_ndcg = [v / 4 for v in BASE_NDCG]
    write_model(results, "org/weak", "w1", {**suite(weak_ndcg, [-c for c in BASE_COS], en_ndcg=0.1), **user_task(0.99)})
    board = board_of(results)
    assert [c.key for c in board.mean_columns] == [
        "TinyRetrieval/de/test/ndcg_at_10", "TinySTS/de/test/cosine_spearman", "SciFact/en/test/ndcg_at_10"]
    assert [(r.name, r.rank) for r in board.rows] == [
        ("medbench/ft", 1), ("medbench/same", 2), ("org/base", 3), ("org/weak", 4), ("org/partial", None)]
    for r in before.rows:  # the means of the other models do not move
        assert (row(board, r.name).mean, row(board, r.name).means) == (r.mean, r.means)
    weak = row(board, "org/weak")
    assert weak.mean is not None and weak.mean < row(board, "org/base").mean
    assert row(board, "org/partial").missing == [c for c in board.mean_columns if c.task != "TinyRetrieval"]
    md = lb.render_markdown(board)
    overall = md.split("## Overall")[1].split("\n## ")[0]
    assert "Mean = the main score averaged over the 3 tasks that every ranked model has: " \
           "TinyRetrieval (de), TinySTS (de), SciFact (en)" in overall
    assert "Not in the mean (not every ranked model has it): UserTaskDE (de; 1 of 5 models)" in overall
    assert "Not ranked: `org/partial` (no score on the current data of TinySTS (de), SciFact (en))" in overall
    assert "| – | `org/partial` |" in overall
    german = md.split("## German (de)")[1].split("\n## ")[0]
    assert "Mean de = averaged over TinyRetrieval, TinySTS" in german and "UserTaskDE (1 of 5 models)" in german
    data = lb.board_dict(board)
    assert data["mean"]["columns"] == [c.key for c in board.mean_columns]
    assert data["mean"]["not_in_mean"] == ["UserTaskDE/de/test/ndcg_at_10"]
    assert data["mean"]["by_language"]["de"] == ["TinyRetrieval/de/test/ndcg_at_10", "TinySTS/de/test/cosine_spearman"]
    partial = next(r for r in data["rows"] if r["name"] == "org/partial")
    assert partial["rank"] is None and partial["missing_for_mean"] == [
        "TinySTS/de/test/cosine_spearman", "SciFact/en/test/ndcg_at_10"]
    rows = list(csv.DictReader(io.StringIO(lb.render_csv(board))))
    assert rows[-1]["model"] == "org/partial" and rows[-1]["rank"] == "" and rows[-1]["mean"] == ""
    assert rows[0]["mean_over"] == ";".join(c.key for c in board.mean_columns)
    assert rows[-1]["missing_for_mean"] == "TinySTS/de/test/cosine_spearman;SciFact/en/test/ndcg_at_10"
    tex = lb.render_tex(board)
    assert "averaged over the 3 tasks that every ranked model has" in tex and "UserTaskDE (de; 1 of 5 models)" in tex
    page = lb.render_html(board)
    assert "averaged over the 3 tasks that every ranked model has" in page and "Not ranked: org/partial" in page


def test_a_user_task_some_models_have_is_left_out_of_the_mean(results: Path) -> None:
    before = board_of(results)
    for name, revision, ndcg, cos in (("org/base", "b1", BASE_NDCG, BASE_COS), ("medbench/same", "s1", BASE_NDCG, BASE_COS)):
        write_model(results, name, revision, {**suite(ndcg, cos), **user_task(0.1)},
                    run_log=finetune_log("org/base", "b1") if name == "medbench/same" else None)
    board = board_of(results)
    assert [(r.name, r.rank, r.mean) for r in board.rows] == [(r.name, r.rank, r.mean) for r in before.rows]
    assert "UserTaskDE/de/test/ndcg_at_10" not in {c.key for c in board.mean_columns}
    # when every ranked model has it, it counts
    write_model(results, "medbench/ft", "f1", {**suite(TUNED_NDCG, TUNED_COS), **user_task(0.1)},
                run_log=finetune_log("org/base", "b1"))
    board = board_of(results)
    assert "UserTaskDE/de/test/ndcg_at_10" in {c.key for c in board.mean_columns}
    assert [r.rank for r in board.rows] == [1, 2, 3, None]


def test_mean_tasks_cover_the_most_scores() -> None:
    cols = [lb.Column(f"T{i}", "Retrieval", "de", "test", "ndcg_at_10") for i in range(5)]
    a, b, c, d, e = cols
    # three models share a, b, c and each has one task of its own: the mean is over a, b, c
    assert lb.mean_columns([{a, b, c, d}, {a, b, c, e}, {a, b, c}]) == [a, b, c]
    # one complete model and four that lack e: four models on four tasks beat one model on five
    assert lb.mean_columns([{a, b, c, d, e}, {a, b, c, d}, {a, b, c, d}, {a, b, c, d}]) == [a, b, c, d]
    # the committed board's shape: four models with every task, one without two of six
    assert lb.mean_columns([set(cols), set(cols), set(cols), set(cols), {a, b, c}]) == cols
    assert lb.mean_columns([]) == [] and lb.mean_columns([set()]) == []


def test_languages_come_from_tasks_or_result_entries(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_model(root, "org/m", "r", {"Bi": {"de": (DE, retrieval_items([0.5, 0.6], subset="de")),
                                            "en": (EN, retrieval_items([0.2, 0.3], subset="en"))},
                                     "Plain": {"default": (DE, {"ndcg_at_10": 0.4, "recall_at_5": 0.5})},
                                     "Pairs": {"default": (EN, {"cosine_spearman": 0.7})},
                                     "Clustering": {"default": (EN, {"v_measure": 0.3})}})
    board = lb.build_board(lb.load_results([root]), {"Plain": lb.TaskInfo("Plain", "Retrieval", {"default": "en"}, "x")})
    keys = {c.key: c.task_type for c in board.columns}
    assert keys == {"Bi/de/test/ndcg_at_10": "Retrieval", "Bi/de/test/recall_at_5": "Retrieval",
                    "Bi/en/test/ndcg_at_10": "Retrieval", "Bi/en/test/recall_at_5": "Retrieval",
                    "Plain/en/test/ndcg_at_10": "Retrieval", "Plain/en/test/recall_at_5": "Retrieval",
                    "Pairs/en/test/cosine_spearman": "STS"}  # the task spec wins over the entry
    assert any("Clustering is neither retrieval nor STS" in n for n in board.notes)
    stale = {c.key: v.stale for c, v in board.rows[0].cells.items()}
    assert stale["Plain/en/test/ndcg_at_10"] is True  # stored data-v1, the task folder now holds "x"
    # a stale score is shown but neither enters the mean nor ranks: the mean covers the current scores only
    assert all(c.task != "Plain" for c in board.mean_columns)
    other = lb.build_board(lb.load_results([root]), {})  # no task folder to compare with: nothing is stale
    assert any(c.task == "Plain" for c in other.mean_columns)


# -- intervals and tests ---------------------------------------------------------------------


def test_intervals_contain_the_score_and_are_reproducible(results: Path) -> None:
    board = board_of(results)
    with_ci = 0
    for r in board.rows:
        for col, cell in r.cells.items():
            if cell.ci is None:
                continue
            with_ci += 1
            assert cell.ci[0] - 1e-5 <= cell.value <= cell.ci[1] + 1e-5, (r.name, col.key)
            assert cell.n in (30, 40)
    assert with_ci == 3 * 3  # three models with per-item files, three cells each
    assert all(c.ci is None for c in row(board, "org/partial").cells.values())  # no per-item file
    assert all(c.ci is None for col, c in row(board, "org/base").cells.items() if col.task == "SciFact")
    again = board_of(results)
    assert [[c.ci for c in r.cells.values()] for r in again.rows] == [[c.ci for c in r.cells.values()] for r in board.rows]
    md = lb.render_markdown(board)
    assert "<sub>[" in md


def test_spearman_rows_matches_scipy() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(5, 25)).astype(float)  # many ties
    y = rng.normal(size=(5, 25))
    got = lb.spearman_rows(x, y)
    assert got == pytest.approx([spearmanr(a, b).statistic for a, b in zip(x, y, strict=True)])
    assert np.isnan(lb.spearman_rows(np.ones((1, 4)), np.arange(4.0)[None]))[0]


def test_spearman_p_value_does_not_depend_on_the_cosine_scale() -> None:
    # two models whose cosines live on different scales: the Spearman ignores the scale, so must its test
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 6, 300).astype(float)
    base = np.stack([gold, gold + rng.normal(0, 4, 300)])
    tuned = gold + rng.normal(0, 2.5, 300)
    results = [lb.paired_test("cosine_spearman", base, np.stack([gold, t]), np.random.default_rng(0))
               for t in (tuned, 0.02 * tuned + 0.9, np.exp(tuned))]
    assert {round(r[0], 12) for r in results} == {round(results[0][0], 12)}
    assert {r[2] for r in results} == {results[0][2]}


def test_paired_test_flags_a_better_model_and_not_an_identical_one(results: Path) -> None:
    board = board_of(results)
    pairs = {p.tuned.name: p for p in board.pairs}
    assert set(pairs) == {"medbench/ft", "medbench/same"}
    better = {c.column.key: c for c in pairs["medbench/ft"].comparisons}
    assert pairs["medbench/ft"].base is row(board, "org/base")
    for key in ("TinyRetrieval/de/test/ndcg_at_10", "TinySTS/de/test/cosine_spearman"):
        c = better[key]
        assert c.delta > 0.1 and c.p is not None and c.p < 0.01 and c.significant, key
        assert c.ci[0] <= c.delta <= c.ci[1]
    assert better["SciFact/en/test/ndcg_at_10"].p is None  # no per-item scores: delta only
    for c in pairs["medbench/same"].comparisons:
        assert c.delta == 0 and not c.significant
        assert c.p is None or c.p == 1.0
    assert row(board, "medbench/ft").delta_mean > 0.1
    md = lb.render_markdown(board)
    section = md.split("### `medbench/ft` vs `org/base`")[1].split("###")[0]
    assert "*" in section and "recipe `mnrl-small`" in section
    same = md.split("### `medbench/same` vs `org/base`")[1].split("##")[0]
    assert "*" not in same.replace("\\*", "")


def test_per_item_scores_that_do_not_match_give_no_interval(tmp_path: Path) -> None:
    root = tmp_path / "results"
    folder = write_model(root, "org/m", "r", {"TinyRetrieval": {"default": (DE, retrieval_items([0.2, 0.4, 0.6]))}})
    path = folder / "per_item" / "TinyRetrieval.jsonl"
    path.write_text(path.read_text().replace('"ndcg_at_10": 0.2', '"ndcg_at_10": 0.9'))
    board = lb.build_board(lb.load_results([root]), TASKS)
    cells = {c.metric: v for c, v in board.rows[0].cells.items()}
    assert cells["ndcg_at_10"].ci is None and cells["recall_at_5"].ci is not None
    assert any("per-item scores of TinyRetrieval/de/test/ndcg_at_10" in n for n in board.notes)


# -- fine-tuned models -----------------------------------------------------------------------


def test_fine_tuned_origin_is_found_in_results_or_model_folder(tmp_path: Path) -> None:
    model_dir = tmp_path / "models" / "ft"
    model_dir.mkdir(parents=True)
    (model_dir / "medbench.json").write_text(json.dumps(
        {"name": "ft", "base_model": "minilm", "base_revision": "abc", "revision": "f1", "recipe": "r.yaml"}))
    log = [{"task": "T", "model": {"name": "medbench/ft", "location": str(model_dir)}}]
    root = tmp_path / "results"
    folder = write_model(root, "medbench/ft", "f1", {}, run_log=log)
    origin = lb.read_origin(folder, "f1")
    assert origin == lb.Origin("sentence-transformers/all-MiniLM-L6-v2", "abc", "r.yaml", str(model_dir / "medbench.json"))
    assert lb.read_origin(folder, "f1-prompts-1234abcd").base_revision == "abc"  # same weights, other prompts
    assert lb.read_origin(folder, "retrained") is None  # the folder now holds other weights
    meta = {"adapted_from": "org/base"}
    assert lb.read_origin(folder, "retrained", meta) == lb.Origin("org/base", None, None, "model_meta.json adapted_from")
    (folder / lb.RUN_LOG).write_text(json.dumps({"model": {"finetune": {"base_model": "org/b", "base_revision": "1"}}}) + "\n")
    assert lb.read_origin(folder, "f1").base_model == "org/b"
    # what the trainer writes: the whole recipe, and the file it came from
    trained = {"name": "ft", "base_model": "mpnet", "base_revision": "r0", "revision": "f1",
               "recipe": {"name": "ft", "phases": []}, "recipe_file": "trainers/minilm-clinical.yaml"}
    (model_dir / "medbench.json").write_text(json.dumps(trained))
    (folder / lb.RUN_LOG).write_text(json.dumps(log[0]) + "\n")
    assert lb.read_origin(folder, "f1") == lb.Origin("sentence-transformers/all-mpnet-base-v2", "r0",
                                                     "minilm-clinical.yaml", str(model_dir / "medbench.json"))
    # medbench.json's own revision may not be the folder's (it is written after hashing): the weights decide
    from medbench.models import weights_revision

    (model_dir / "model.safetensors").write_bytes(b"weights")
    assert lb.read_origin(folder, weights_revision(model_dir)).base_revision == "r0"
    (model_dir / "model.safetensors").write_bytes(b"retrained")
    assert lb.read_origin(folder, "0123456789ab") is None


def test_base_without_revision_is_its_only_result(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_model(root, "org/base", "b1", suite(BASE_NDCG, BASE_COS))
    write_model(root, "org/ft", "f1", suite(TUNED_NDCG, TUNED_COS), meta={"adapted_from": "org/base"})
    write_model(root, "org/orphan", "o1", suite(TUNED_NDCG, TUNED_COS), meta={"adapted_from": "org/gone"})
    board = board_of(root)
    pairs = {p.tuned.name: p for p in board.pairs}
    assert pairs["org/ft"].base.revision == "b1"
    assert pairs["org/orphan"].base is None and "no result of the base model org/gone" in pairs["org/orphan"].note
    write_model(root, "org/base", "b2", suite(BASE_NDCG, BASE_COS))
    assert next(p for p in board_of(root).pairs if p.tuned.name == "org/ft").base is None  # ambiguous: no guess
    # a base given as a folder path is stored as local/<folder>: found by its revision
    write_model(root, "local/my-base", "c0ffee", suite(BASE_NDCG, BASE_COS))
    write_model(root, "medbench/from-folder", "f2", suite(TUNED_NDCG, TUNED_COS),
                run_log=finetune_log("./models/my-base", "c0ffee"))
    assert next(p for p in board_of(root).pairs if p.tuned.name == "medbench/from-folder").base.name == "local/my-base"


# -- files, formats, --check -----------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(leaderboard_cmd, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def built(results: Path, tmp_path: Path) -> Path:
    out = tmp_path / "board"
    code, output = invoke("--results-dir", str(results), "--out", str(out))
    assert code == 0, output
    return out


def test_all_formats_are_written(built: Path) -> None:
    names = set(snapshot(built))
    assert {"README.md", "leaderboard.csv", "leaderboard.json", "leaderboard.tex", "index.html",
            "plots/finetuned_vs_base.png", "plots/TinyRetrieval_de.png", "plots/TinySTS_de.png",
            "plots/SciFact_en.png"} == names
    md = (built / "README.md").read_text()
    for plot in (p for p in names if p.endswith(".png")):
        assert f"]({plot})" in md  # every plot is embedded
    rows = list(csv.DictReader((built / "leaderboard.csv").open(encoding="utf-8")))
    assert [r["model"] for r in rows] == ["medbench/ft", "medbench/same", "org/base", "org/partial"]
    assert rows[3]["mean"] == "" and rows[3]["TinyRetrieval/de/test/ndcg_at_10"] == "0.900000"
    assert rows[0]["base_model"] == "org/base" and rows[0]["base_revision"] == "b1"
    data = json.loads((built / "leaderboard.json").read_text())
    assert data["rows"][0]["name"] == "medbench/ft" and data["settings"]["resamples"] == 1000
    significant = [s for c in data["comparisons"] for s in c["scores"] if s["significant"]]
    assert {(s["column"]) for s in significant} >= {"TinyRetrieval/de/test/ndcg_at_10", "TinySTS/de/test/cosine_spearman"}
    tex = (built / "leaderboard.tex").read_text()
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1 + 2 + 2  # overall, de, en, 2 pairs
    assert "medbench/ft" in tex and r"\_" not in "medbench/ft" and "--" in tex
    page = (built / "index.html").read_text()
    assert "<script>" in page and "<style>" in page and "http" not in page.replace("http-equiv", "")  # no CDN
    png = (built / "plots" / "TinySTS_de.png").read_bytes()
    text = lb.png_text(png)
    assert "Software" not in text and lb.PNG_DATA_KEY in text


def test_check_passes_detects_stale_files_and_writes_nothing(results: Path, built: Path, tmp_path: Path) -> None:
    code, output = invoke("--results-dir", str(results), "--out", str(built), "--check")
    assert code == 0, output
    before = snapshot(built)
    # a new result makes tables and plots stale
    write_model(results, "org/new", "n1", suite(BASE_NDCG, TUNED_COS))
    code, output = invoke("--results-dir", str(results), "--out", str(built), "--check")
    assert code == 1
    for name in ("README.md", "leaderboard.csv", "leaderboard.json", "leaderboard.tex", "index.html",
                 "plots/TinySTS_de.png"):
        assert name in output
    assert snapshot(built) == before  # check mode never writes
    code, output = invoke("--results-dir", str(results), "--out", str(built))
    assert code == 0
    code, output = invoke("--results-dir", str(results), "--out", str(built), "--check")
    assert code == 0, output
    # a rebuild from scratch gives the same bytes, plots included
    fresh = tmp_path / "fresh"
    assert invoke("--results-dir", str(results), "--out", str(fresh))[0] == 0
    assert snapshot(fresh) == snapshot(built)


def test_check_lists_hand_edits_missing_and_leftover_plots(results: Path, built: Path) -> None:
    (built / "README.md").write_text("edited by hand\n")
    (built / "leaderboard.csv").unlink()
    shutil.copy(built / "plots" / "TinySTS_de.png", built / "plots" / "OldTask_de.png")
    code, output = invoke("--results-dir", str(results), "--out", str(built), "--check")
    assert code == 1
    assert "README.md" in output and "leaderboard.csv (missing)" in output
    assert "plots/OldTask_de.png (no longer generated)" in output
    assert "leaderboard.json" not in output
    assert invoke("--results-dir", str(results), "--out", str(built))[0] == 0
    assert not (built / "plots" / "OldTask_de.png").exists()
    assert invoke("--results-dir", str(results), "--out", str(built), "--check")[0] == 0


def png_with_text(text: dict[str, str]) -> bytes:
    """A 1x1 PNG with these tEXt entries: the same data drawn by another matplotlib."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + b"".join(chunk(b"tEXt", k.encode() + b"\0" + v.encode()) for k, v in text.items())
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def test_plots_are_compared_by_their_data(results: Path, built: Path) -> None:
    """Other bytes for the same data (another matplotlib) are neither stale nor rewritten."""
    path = built / "plots" / "TinySTS_de.png"
    other = png_with_text(lb.png_text(path.read_bytes()))
    path.write_bytes(other)
    assert invoke("--results-dir", str(results), "--out", str(built), "--check")[0] == 0
    assert invoke("--results-dir", str(results), "--out", str(built))[0] == 0
    assert path.read_bytes() == other
    path.write_bytes(png_with_text({lb.PNG_DATA_KEY: "0" * 64}))  # other data: stale
    code, output = invoke("--results-dir", str(results), "--out", str(built), "--check")
    assert code == 1 and "plots/TinySTS_de.png" in output


LONG_NAME = "a-hospital-consortium-with-a-long-name/clinical-sentence-embeddings-multilingual-large-finetuned-v2"


def texts_outside(fig) -> list[tuple[str, tuple[float, ...]]]:
    """Every visible text of a drawn figure (tick labels, title, legend, axis labels, value labels)
    whose window extent is not inside the figure."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    frame = fig.bbox
    out = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < frame.x0 - 0.5 or box.x1 > frame.x1 + 0.5 or box.y0 < frame.y0 - 0.5 or box.y1 > frame.y1 + 0.5:
            out.append((text.get_text(), tuple(round(v, 1) for v in box.extents)))
    return out


def test_plot_labels_fit_inside_the_figure(results: Path) -> None:
    """Issue 11.13: the plots cut long model names off on the left."""
    write_model(results, LONG_NAME, "0123456789abcdef", suite(TUNED_NDCG, TUNED_COS), run_log=finetune_log("org/base", "b1"))
    board = board_of(results)
    found = lb.plots(board)
    assert set(found) == {"plots/TinyRetrieval_de.png", "plots/TinySTS_de.png", "plots/SciFact_en.png",
                          "plots/finetuned_vs_base.png"}
    for name, plot in found.items():
        with lb.plot_style():
            fig = plot.figure()
            (ax,) = fig.axes
            labels = [t.get_text() for t in ax.get_yticklabels()]
            assert any(LONG_NAME.split("/")[-1] in label for label in labels), (name, labels)
            renderer = fig.canvas.get_renderer()
            for label in ax.get_yticklabels() + ax.get_xticklabels():  # every tick label inside the figure
                box = label.get_window_extent(renderer)
                assert fig.bbox.x0 - 0.5 <= box.x0 and box.x1 <= fig.bbox.x1 + 0.5, (name, label.get_text(), box)
                assert fig.bbox.y0 - 0.5 <= box.y0 and box.y1 <= fig.bbox.y1 + 0.5, (name, label.get_text(), box)
            assert texts_outside(fig) == [], name  # and everything else written on it
    # the PNG is the figure as measured: its width is the figure's
    import struct

    png = found["plots/TinySTS_de.png"].render()
    width = struct.unpack(">I", png[16:20])[0]
    with lb.plot_style():
        assert width == round(found["plots/TinySTS_de.png"].figure().bbox.width)


def test_format_option_and_user_errors(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "some"
    code, _ = invoke("--results-dir", str(results), "--out", str(out), "--format", "csv,json")
    assert code == 0 and set(snapshot(out)) == {"leaderboard.csv", "leaderboard.json"}
    code, output = invoke("--results-dir", str(results), "--out", str(out), "--format", "pdf")
    assert code == 1 and "unknown format 'pdf'" in output
    code, output = invoke("--results-dir", str(tmp_path / "nothing"), "--out", str(out))
    assert code == 1 and "no such results folder" in output
    (tmp_path / "empty").mkdir()
    code, output = invoke("--results-dir", str(tmp_path / "empty"), "--out", str(out))
    assert code == 1 and "no results found" in output
    broken = write_model(tmp_path / "broken", "org/x", "r", {"TinySTS": {"default": (DE, sts_items(GOLD, BASE_COS))}})
    (broken / "TinySTS.json").write_text("{not json")
    code, output = invoke("--results-dir", str(tmp_path / "broken"), "--out", str(out))
    assert code == 1 and "TinySTS.json:1: invalid JSON" in output


def test_help_does_not_import_heavy_libraries() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nimport medbench.cli.board as b\n"
            "CliRunner().invoke(b.leaderboard, ['-h']); CliRunner().invoke(b.publish, ['-h'])\n"
            "print('IMPORTED', [m for m in ('torch', 'mteb', 'matplotlib', 'numpy') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "IMPORTED []" in proc.stdout, proc.stdout + proc.stderr


# -- the HTML table in a browser -------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(tmp_path: Path):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def click(driver, element) -> None:
    """Scroll the element into view as a user would (the page's scroll padding keeps it beside the
    pinned columns; WebDriver alone does not scroll an element that is partly in view), then click."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'nearest', inline: 'nearest'});", element)
    element.click()


def test_html_table_sorts_in_headless_chromium(built: Path, browser) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get((built / "index.html").as_uri())
    table = driver.find_element(By.ID, "leaderboard")
    headers = [th.text.strip() for th in table.find_elements(By.CSS_SELECTOR, "thead th")]

    def column(title: str) -> list[str]:
        i = headers.index(title)
        return [tr.find_elements(By.TAG_NAME, "td")[i].text.split("\n")[0]
                for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]

    def numbers(values: list[str]) -> list[float]:
        return [float(v.rstrip("*†")) for v in values if v != lb.MISSING]

    title = "TinyRetrieval · de · nDCG@10"
    th = table.find_elements(By.CSS_SELECTOR, "thead th")[headers.index(title)]
    click(driver, th)  # numbers: best first
    values = column(title)
    assert numbers(values) == sorted(numbers(values), reverse=True)
    assert column("Model")[0] == "org/partial"  # 0.900, the best German nDCG@10, though unranked overall
    click(driver, th)  # again: ascending
    values = column(title)
    assert numbers(values) == sorted(numbers(values))
    mean_th = table.find_elements(By.CSS_SELECTOR, "thead th")[headers.index("Mean")]
    click(driver, mean_th)
    means = column("Mean")
    assert means[-1] == lb.MISSING and numbers(means) == sorted(numbers(means), reverse=True)
    click(driver, mean_th)  # ascending, and "–" stays last
    means = column("Mean")
    assert means[-1] == lb.MISSING and numbers(means) == sorted(numbers(means))
    rank_th = table.find_elements(By.CSS_SELECTOR, "thead th")[headers.index("#")]
    click(driver, rank_th)  # the unranked model ("–") stays last either way
    assert column("#") == ["3", "2", "1", lb.MISSING]
    click(driver, rank_th)
    assert column("#") == ["1", "2", "3", lb.MISSING]
    model_th = table.find_elements(By.CSS_SELECTOR, "thead th")[headers.index("Model")]
    click(driver, model_th)  # text: A to Z
    assert column("Model") == sorted(column("Model"))


# For every model-name cell (and the Model header) of the leaderboard table: its box relative to the
# box of the scroll container, and whether the cell is what the browser shows at the cell's centre.
_NAME_CELLS_SEEN = """
var table = document.getElementById("leaderboard"), wrap = table.parentElement;
var col = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) { return c.textContent; }).indexOf("Model");
var cells = [table.tHead.rows[0].cells[col]].concat(Array.prototype.map.call(table.tBodies[0].rows, function (r) {
  return r.cells[col]; }));
var box = wrap.getBoundingClientRect();
return {scrollLeft: wrap.scrollLeft, overflow: wrap.scrollWidth - wrap.clientWidth,
        lastRight: table.tHead.rows[0].cells[table.tHead.rows[0].cells.length - 1].getBoundingClientRect().right - box.right,
        cells: cells.map(function (c) {
          var r = c.getBoundingClientRect();
          var top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return {text: c.textContent, left: r.left - box.left, right: r.right - box.right, width: r.width,
                  onTop: c === top || c.contains(top)};
        })};
"""


@pytest.mark.parametrize("page", ["built", "committed"])
def test_model_names_stay_in_view_when_the_table_scrolls_sideways(page: str, request, browser) -> None:
    """Issue 11.13: the per-task columns scroll sideways; the model column must not scroll away with them."""
    if page == "built":
        folder = request.getfixturevalue("built")
        expected = ["medbench/ft", "medbench/same", "org/base", "org/partial"]
    else:  # the project's own leaderboard/index.html
        folder = Path(__file__).resolve().parents[1] / "leaderboard"
        expected = [r["name"] for r in json.loads((folder / "leaderboard.json").read_text())["rows"]]
    driver = browser
    driver.set_window_size(700, 900)  # narrower than the table
    driver.get((folder / "index.html").as_uri())
    driver.execute_script("var w = document.getElementById('leaderboard').parentElement;"
                          "w.scrollLeft = w.scrollWidth; window.scrollTo(0, w.getBoundingClientRect().top + window.scrollY - 10);")
    seen = driver.execute_script(_NAME_CELLS_SEEN)
    assert seen["overflow"] > 200 and seen["scrollLeft"] >= seen["overflow"] - 1  # scrolled to the far right
    assert abs(seen["lastRight"]) <= 1  # the last score column is in view
    assert [c["text"] for c in seen["cells"]] == ["Model", *expected]
    for cell in seen["cells"]:
        assert cell["left"] >= -0.5 and cell["right"] <= 0.5 and cell["width"] > 20, cell  # inside the container
        assert cell["onTop"], cell  # and not covered by the scrolled cells
