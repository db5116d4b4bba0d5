"""medbench synth, step by step: chunker, input readers, prompts, client faults, log, filters, BM25, audit sheet.

Every server here is medbench.synth.fakeserver.FakeLLM on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import json
import random
import socket
import time
from pathlib import Path

import pytest

from medbench.errors import MedbenchError, ProblemCollector, TaskFormatError
from medbench.synth import chunk, filters
from medbench.synth.audit import Reservoir, read_sheet
from medbench.synth.client import Attempt, ChatClient, EndpointError, parse_endpoint
from medbench.synth.documents import iter_documents
from medbench.synth.fakeserver import FakeLLM
from medbench.synth.log import LogWriter, scan
from medbench.synth.prompts import Templates, answer_schema, builtin_type, request_body, request_key
from medbench.synth.stream import stream_rows

GERMAN = ("Im rechten Oberlappen zeigt sich ein spikulierter Rundherd von 3,1 cm mit pleuraler Einziehung. "
          "Mediastinal keine vergrößerten Lymphknoten. Kein Pleuraerguss. Beurteilung: malignomsuspekter Rundherd, "
          "Empfehlung zur PET-CT und bronchoskopischen Abklärung.")


def words(n: int, start: int = 0) -> str:
    return " ".join(f"w{i}" for i in range(start, start + n))


# -- chunker -------------------------------------------------------------------------------------


def test_chunker_keeps_short_documents_whole_and_numbers_passages() -> None:
    assert chunk.chunk(GERMAN) == [GERMAN]
    assert chunk.passages("doc-1", GERMAN) == [("doc-1#1", GERMAN)]


def test_chunker_cuts_at_sections_and_paragraphs_within_bounds() -> None:
    text = "\n\n".join([f"Anamnese:\n{words(120)}.", f"Befund:\n{words(90, 200)}.", f"BEURTEILUNG\n{words(130, 400)}."])
    parts = chunk.chunk(text)
    assert [p.split("\n")[0] for p in parts] == ["Anamnese:", "Befund:"]  # a heading starts a passage once one has 100 words
    assert all(len(p.split()) <= chunk.MAX_WORDS for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())  # nothing lost, nothing repeated
    assert chunk.chunk(text) == parts  # deterministic
    assert chunk.chunk(text.replace("\n", "\r\n")) == parts


def test_chunker_splits_long_paragraphs_at_sentence_ends_not_abbreviations() -> None:
    sentences = [f"V.a. Pneumonie re. basal mit {words(30, i * 40)} Satz {i}." for i in range(12)]
    parts = chunk.chunk(" ".join(sentences))
    assert len(parts) >= 2 and all(len(p.split()) <= chunk.MAX_WORDS for p in parts)
    assert all(p.startswith("V.a. Pneumonie") and p.endswith(".") for p in parts)  # cut between sentences only
    assert chunk.split_sentences("V.a. Pneumonie. Z.n. Appendektomie. Kein Fieber.") == [
        "V.a. Pneumonie.", "Z.n. Appendektomie.", "Kein Fieber."]
    assert chunk.split_sentences("Gabe von ca. 5 mg. Dr. Meier informiert.") == ["Gabe von ca. 5 mg.", "Dr. Meier informiert."]


def test_chunker_cuts_a_sentence_without_end_by_words_and_merges_a_short_tail() -> None:
    assert [len(p.split()) for p in chunk.chunk(words(600))] == [250, 250, 100]
    assert [len(p.split()) for p in chunk.chunk(words(520))] == [250, 250, 20]  # 270 words would not fit
    two = chunk.chunk(f"{words(200)}\n\n{words(30, 500)}")
    assert len(two) == 1 and len(two[0].split()) == 230  # a tail under 100 words joins the passage before it
    with pytest.raises(ValueError):
        chunk.chunk("x", min_words=10, max_words=5)


# -- input ---------------------------------------------------------------------------------------


def read_all(path: Path) -> tuple[list, ProblemCollector]:
    problems = ProblemCollector()
    return list(iter_documents(path, problems)), problems


def test_documents_from_a_folder_of_txt_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("\ufeffText A", encoding="utf-8")
    (tmp_path / "sub" / "b.txt").write_text("Text B", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("secret", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes("Zeile 1\nZeile 2 \xe4".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    docs, problems = read_all(tmp_path)
    assert [(d.id, d.text) for d in docs] == [("a", "Text A"), ("sub/b", "Text B")]
    assert [str(p) for p in problems.problems] == [
        f"{tmp_path / 'bad.txt'}:2: not UTF-8 text; save the file as UTF-8", f"{tmp_path / 'empty.txt'}: empty document"]
    (tmp_path / "nothing-here").mkdir()
    with pytest.raises(MedbenchError, match="no .txt files"):
        read_all(tmp_path / "nothing-here")


def test_documents_from_jsonl_report_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    lines = [
        {"id": "d1", "text": "Erster Text", "patient": "p1", "type": "radiology", "title": "CT"},
        {"id": 2, "text": "Zweiter Text", "patient": 7, "date": "2024-01-02"},
        "{not json",
        {"id": "d3", "text": ""},
        {"id": "d1", "text": "again"},
        {"id": "d4", "text": "Text", "patinet": "p9"},
        {"id": "d5", "text": "Text", "department": "ignored"},
        {"id": True, "text": "Text"},
    ]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    docs, problems = read_all(path)
    assert [(d.id, d.patient, d.group) for d in docs] == [("d1", "p1", "patient:p1"), ("2", "7", "patient:7"), ("d5", None, "document:d5")]
    shown = [str(p).replace(str(path), "F") for p in problems.problems]
    assert shown[0].startswith("F:3: invalid JSON")
    assert "F:4: text: expected a non-empty text, got ''" in shown
    assert "F:5: id: duplicate document id 'd1' (first at F:1)" in shown
    assert "F:6: patinet: unknown key 'patinet': did you mean 'patient'?" in shown
    assert "F:8: id: expected a non-empty id (string or integer), got True" in shown


def test_documents_stream_a_large_jsonl_block_by_block(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    rows = [{"id": f"d{i}", "text": f"Text {i} " + "ä" * (i % 7)} for i in range(500)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "{broken\n", encoding="utf-8")
    problems = ProblemCollector()
    got = list(stream_rows(path, problems=problems, block=97))  # blocks smaller than a line too
    assert [r for *_, r in got] == rows and [n for n, *_ in got] == list(range(1, 501))
    raw = path.read_bytes()
    assert all(json.loads(raw[off:raw.index(b"\n", off)]) == r for _, off, r in got)
    assert [str(p) for p in problems.problems] == [f"{path}:501: invalid JSON: Expecting property name enclosed in double quotes (column 2)"]


def test_documents_from_csv_with_semicolons_and_cells_over_several_lines(tmp_path: Path) -> None:
    path = tmp_path / "docs.csv"
    path.write_text('id;text;patient;type\nd1;"Zeile eins\nZeile zwei";p1;discharge\nd2;nur zwei\nd3;;p2;x\nd4;Text vier;p2;radiology\n',
                    encoding="utf-8-sig")
    docs, problems = read_all(path)
    assert [(d.id, d.text, d.patient) for d in docs] == [("d1", "Zeile eins\nZeile zwei", "p1"), ("d4", "Text vier", "p2")]
    assert [str(p) for p in problems.problems] == [
        f"{path}:4: expected 4 cells (as in the header), got 2", f"{path}:5: text: expected a non-empty text, got ''"]
    (tmp_path / "no-text.csv").write_text("id,body\n1,x\n", encoding="utf-8")
    _, problems = read_all(tmp_path / "no-text.csv")
    assert "the header has no column text" in str(problems.problems[0])


def test_documents_input_that_is_not_a_known_layout(tmp_path: Path) -> None:
    with pytest.raises(MedbenchError, match="no such file or folder"):
        read_all(tmp_path / "missing.jsonl")
    (tmp_path / "docs.xlsx").write_bytes(b"x")
    with pytest.raises(MedbenchError, match="expected a folder of .txt files, a .jsonl file or a .csv file"):
        read_all(tmp_path / "docs.xlsx")


# -- prompts -------------------------------------------------------------------------------------


def test_prompts_per_type_and_language_and_the_request() -> None:
    de, en = Templates.load("de"), Templates.load("en")
    assert builtin_type("Entlassungsbrief") == "discharge" and builtin_type("CT Thorax") == "radiology"
    assert builtin_type("operation_note") == "operation" and builtin_type("Histologie") == "pathology"
    assert builtin_type("Pflegebericht") == "default"
    system, user = (m["content"] for m in de.messages(GERMAN, "radiology", "CT Thorax", 3))
    assert "<passage>\n" + GERMAN + "\n</passage>" in user and "3 Frage(n) auf Deutsch" in user and "Lokalisation" in user
    assert "CT Thorax" in user and "{" not in system
    assert "in English" in en.messages("text", "pathology", None, 2)[1]["content"]
    body = request_body("m", de.messages(GERMAN, None, None, 2), 2)
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "questions", "strict": True, "schema": answer_schema(2)}}
    assert answer_schema(2)["properties"]["questions"]["maxItems"] == 2
    assert request_key(body) == request_key(json.loads(json.dumps(body)))
    assert request_key(body) != request_key(request_body("other-model", body["messages"], 2))


def test_prompt_file_overrides_templates_per_type_and_language(tmp_path: Path) -> None:
    path = tmp_path / "prompts.yaml"
    path.write_text("de:\n  default:\n    user: 'Frag {n}x: {passage}'\n  Pflege Bericht:\n    system: Pflege\n"
                    "    user: 'P {passage} {title}'\n", encoding="utf-8")
    t = Templates.load("de", path)
    assert t.messages("TXT", "Arztbrief", None, 2)[1]["content"] == "Frag 2x: TXT"
    assert [m["content"] for m in t.messages("TXT", "pflege_bericht", "T1", 2)] == ["Pflege", "P TXT T1"]
    assert Templates.load("en", path).messages("TXT", None, None, 2)[1]["content"].startswith("Here is a passage")
    json_path = tmp_path / "prompts.json"
    json_path.write_text(json.dumps({"en": {"radiology": {"user": "R: {passage}"}}}), encoding="utf-8")
    assert Templates.load("en", json_path).messages("X", "MRI", None, 1)[1]["content"] == "R: X"


def test_prompt_file_mistakes_name_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "prompts.yaml"
    path.write_text("de:\n  default:\n    user: 'no passage here'\n  radiology:\n    user: '{passage} {patient}'\n"
                    "    style: x\nfr:\n  default:\n    user: '{passage}'\n", encoding="utf-8")
    with pytest.raises(TaskFormatError) as err:
        Templates.load("de", path)
    shown = [str(p).replace(str(path), "F") for p in err.value.problems]
    assert shown == ["F:3: de.default.user: the user template must hold {passage} (where the passage goes)",
                     "F:5: de.radiology.user: unknown placeholder {patient}: use {passage}, {n}, {title}, {type}, {language}",
                     "F:6: de.radiology.style: unknown key 'style': expected system or user",
                     "F:7: fr: unknown language 'fr': expected de, en"]
    with pytest.raises(MedbenchError, match="cannot read the prompt file"):
        Templates.load("de", tmp_path / "missing.yaml")


# -- filters -------------------------------------------------------------------------------------


def answer(*items: dict, fence: bool = False) -> str:
    text = json.dumps({"questions": list(items)}, ensure_ascii=False)
    return f"```json\n{text}\n```" if fence else text


Q = {"question": "Größe des Rundherds im Oberlappen?", "kind": "search", "evidence": "Rundherd von 3,1 cm"}


def test_parse_answer_is_strict_and_unwraps_code_fences() -> None:
    assert filters.parse_answer(answer(Q, fence=True), 2) == ([filters.Question(**Q)], 0)
    assert filters.parse_answer("```\n" + answer(Q) + "\n```", 2)[0]
    for bad in ("not json", "[]", json.dumps({"questions": []}), json.dumps({"questions": [Q], "note": "x"}), json.dumps({"questions": "x"})):
        with pytest.raises(filters.Malformed):
            filters.parse_answer(bad, 2)
    items = [Q, {**Q, "kind": "other"}, {**Q, "evidence": " "}, {"question": "x", "kind": "search"}, {**Q, "extra": 1}, "x"]
    assert filters.parse_answer(answer(*items), 6) == ([filters.Question(**Q)], 5)
    assert filters.parse_answer(answer(Q, Q, Q), 2) == ([filters.Question(**Q)] * 2, 1)  # past the N asked for


def test_grounding_verbatim_nearly_elided_and_not() -> None:
    assert filters.grounded("Rundherd von 3,1 cm", GERMAN)
    assert filters.grounded("„RUNDHERD  von 3,1 cm mit pleuraler\nEinziehung“", GERMAN)  # case, quotes, whitespace
    assert filters.grounded("spikulierter Rundherd von 3,1 cm mit pleuraler Einziehng", GERMAN)  # a typo: ratio >= 0.9
    assert filters.grounded("Im rechten Oberlappen ... pleuraler Einziehung", GERMAN)  # elided quote, piece by piece
    assert not filters.grounded("Rundherd von 5,4 cm im linken Unterlappen", GERMAN)
    assert not filters.grounded("Im rechten Oberlappen ... Lebermetastasen", GERMAN)
    assert not filters.grounded("cm", GERMAN)  # too short to be evidence


def test_language_copy_and_near_duplicate_filters() -> None:
    assert filters.language_of("Welche Größe hatte der Rundherd im Oberlappen?") == "de"
    assert filters.language_of("What was the size of the nodule in the upper lobe?") == "en"
    assert filters.language_of("PET-CT Rundherd") is None
    grams = filters.ngrams(filters.words(GERMAN))
    assert filters.copies("im rechten Oberlappen zeigt sich ein spikulierter Rundherd von 3,1 cm?", grams)
    assert not filters.copies("Rundherd im rechten Oberlappen, wie groß?", grams)
    q = filters.Question("Welche Größe hatte der Rundherd?", "search", "Rundherd von 3,1 cm")
    assert filters.check(q, GERMAN, grams, "de") is None
    assert filters.check(q, GERMAN, grams, "en") == "language"
    assert filters.check(filters.Question("What size was the nodule?", "search", "Rundherd von 3,1 cm"), GERMAN, grams, "de") == "language"
    assert filters.check(filters.Question("Rundherd?", "search", "Lebermetastasen beidseits"), GERMAN, grams, "de") == "ungrounded"
    dupes = filters.NearDuplicates()
    assert dupes.add("Welche Dosis Ramipril bei Entlassung?")
    assert not dupes.add("welche Dosis ramipril bei Entlassung ?")
    assert dupes.add("Welche Dosis Bisoprolol bei Entlassung?")


def test_near_duplicates_index_finds_exactly_what_brute_force_finds() -> None:
    rng = random.Random(3)
    vocab = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.sample(vocab, rng.randint(1, 9))) for _ in range(600)]
    fast, kept = filters.NearDuplicates(), []
    for text in texts:
        tokens = set(text.split())
        slow = all(len(tokens & k) < 0.8 * len(tokens | k) for k in kept)
        assert fast.add(text) == slow, text
        if slow:
            kept.append(tokens)


# -- BM25 ----------------------------------------------------------------------------------------


def test_round_trip_and_masked_top() -> None:
    from medbench.synth.retrieval import PassageIndex

    index = PassageIndex("de")
    index.build(iter([GERMAN, "Entlassung mit Ramipril 5 mg bei Hypertonie.", "Adenokarzinom der Lunge, R0 reseziert."]))
    assert index.round_trip(["Welche Dosis Ramipril?", "Rundherd im Oberlappen", "Ramipril", "Zahnarzt"], [1, 0, 0, 2], 1) == [
        True, True, False, False]
    ids, _ = index.top(["Ramipril Lunge"], 3, mask=[1.0, 0.0, 1.0])
    assert 1 not in ids[0][:1]


# -- client --------------------------------------------------------------------------------------


def body_for(text: str, n: int = 2) -> dict:
    return request_body("fake", Templates.load("de").messages(text, "radiology", "CT", n), n)


@pytest.fixture
def fake():
    with FakeLLM(retry_after="1", slow=1.5) as server:
        yield server


@pytest.fixture
def new_client():
    made: list[ChatClient] = []

    def make(*args, **kwargs) -> ChatClient:
        made.append(ChatClient(*args, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_client_answers_and_sends_the_key_only_in_the_header(new_client, fake: FakeLLM) -> None:
    seen: list[Attempt] = []
    client = new_client([fake.url], "sk-secret-123", backoff=0.01)
    result = client.complete(body_for(GERMAN), seen.append)
    assert result.ok and len(seen) == 1 and seen[0].status == 200 and seen[0].usage
    questions, bad = filters.parse_answer(result.answer, 2)
    assert len(questions) == 2 and not bad and all(filters.grounded(q.evidence, GERMAN) for q in questions)
    assert fake.headers["Authorization"] == "Bearer sk-secret-123"
    assert fake.requests[-1]["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize("mode", ["429", "500", "garbage"])
def test_client_retries_429_5xx_and_non_completions(new_client, fake: FakeLLM, mode: str) -> None:
    seen: list[Attempt] = []
    started = time.time()
    result = new_client([fake.url], backoff=0.01).complete(body_for(f"{GERMAN} [[fake:{mode}]]"), seen.append)
    assert result.ok and [a.ok for a in seen] == [False, True]
    if mode == "429":
        assert seen[0].status == 429 and seen[0].retry_after == 1.0 and time.time() - started >= 1.0  # Retry-After honoured


def test_client_timeout_then_retry(new_client, fake: FakeLLM) -> None:
    seen: list[Attempt] = []
    result = new_client([fake.url], timeout=0.4, backoff=0.01).complete(body_for(f"{GERMAN} [[fake:slow]]"), seen.append)
    assert result.ok and seen[0].error == "timeout after 0.4s" and seen[1].ok


def test_client_gives_up_after_max_attempts_and_does_not_retry_400(new_client, fake: FakeLLM) -> None:
    seen: list[Attempt] = []
    result = new_client([fake.url], backoff=0.001, max_attempts=3).complete(body_for(f"{GERMAN} [[fake:500always]]"), seen.append)
    assert not result.ok and [a.status for a in seen] == [500, 500, 500]
    fake.status = 400
    seen.clear()
    assert not new_client([fake.url], backoff=0.001).complete(body_for(GERMAN), seen.append).ok and len(seen) == 1


@pytest.mark.parametrize("status", [401, 404])
def test_client_stops_the_run_on_a_refused_key_or_wrong_url(new_client, fake: FakeLLM, status: int) -> None:
    fake.status = status
    with pytest.raises(EndpointError, match=f"answered HTTP {status}"):
        new_client([fake.url], "sk-x").complete(body_for(GERMAN))


def test_client_spreads_over_endpoints_and_survives_a_dead_one(new_client, fake: FakeLLM) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # nothing listens there once closed
    with FakeLLM() as other:
        client = new_client([fake.url, other.url], backoff=0.001)
        for i in range(6):
            assert client.complete(body_for(f"{GERMAN} {i}")).ok
        assert len(fake.requests) == 3 and len(other.requests) == 3
        seen: list[Attempt] = []
        assert new_client([dead, other.url], backoff=0.001).complete(body_for(GERMAN), seen.append).ok
        assert seen[-1].endpoint == other.url


def test_endpoint_urls() -> None:
    assert parse_endpoint("http://gpu:8000/v1").path == "/v1/chat/completions"
    assert parse_endpoint("https://api.example.org/v1/chat/completions/").path == "/v1/chat/completions"
    for bad in ("gpu:8000", "ftp://x/v1", "http://user:key@gpu/v1", "http://gpu:port/v1"):
        with pytest.raises(MedbenchError, match="--endpoint"):
            parse_endpoint(bad)


# -- log -----------------------------------------------------------------------------------------


def test_log_resume_state_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "generation.jsonl"
    state = scan(path)
    writer = LogWriter(state)
    ok = Attempt("http://x/v1", 1, time.time(), 0.1, 200, answer='{"questions": []}')
    writer.write("d#1", "k1", {"model": "m"}, Attempt("http://x/v1", 1, time.time(), 0.1, 500, error="HTTP 500 x"))
    writer.write("d#1", "k1", {"model": "m"}, ok)
    writer.close()
    with path.open("ab") as f:
        f.write(b'{"passage": "d#2", "key": "k2", "ok": tr')  # a kill mid-line
    state = scan(path)
    assert state.calls == 2 and state.damaged == 1 and set(state.done) == {"k1"} and state.errors == {"HTTP 500": 1}
    writer = LogWriter(state)  # closes the torn line, so the next one starts clean
    writer.write("d#2", "k2", {"model": "m"}, ok)
    writer.close()
    again = scan(path)
    assert set(again.done) == {"k1", "k2"} and again.damaged == 1
    with path.open("rb") as f:
        assert again.answer("k2", f) == '{"questions": []}'


# -- audit sheet ---------------------------------------------------------------------------------


def test_reservoir_is_uniform_in_size_and_seeded() -> None:
    a, b = Reservoir(5, 1), Reservoir(5, 1)
    for i in range(100):
        a.add(i)
        b.add(i)
    assert a.items == b.items and len(a.items) == 5 and a.seen == 100


def test_audit_sheet_marks_and_mistakes(tmp_path: Path) -> None:
    sheet = tmp_path / "audit.csv"
    sheet.write_text("pair;question;hallucinated;wrong;note\nq1;A;y;n;\nq2;B;Nein;ja;x\nq3;C;;;\nq4;\"D\nmore\";n;n;\n",
                     encoding="utf-8-sig")
    counts = read_sheet(sheet)
    assert counts == {"marked": 3, "unmarked": 1, "hallucinated": 1, "wrong": 1,
                      "hallucinated_rate": pytest.approx(1 / 3), "wrong_rate": pytest.approx(1 / 3)}
    sheet.write_text("pair,hallucinated,wrong\nq1,maybe,n\nq2,y,\n", encoding="utf-8")
    with pytest.raises(TaskFormatError) as err:
        read_sheet(sheet)
    assert [str(p) for p in err.value.problems] == [f"{sheet}:2: hallucinated: expected y or n, got 'maybe' (pair q1)",
                                                    f"{sheet}:3: wrong: expected y or n, got nothing (pair q2)"]
    sheet.write_text("pair,hallucinated,wrong\nq1,,\n", encoding="utf-8")
    with pytest.raises(MedbenchError, match="no row is marked yet"):
        read_sheet(sheet)
    sheet.write_text("pair,question\nq1,x\n", encoding="utf-8")
    with pytest.raises(MedbenchError, match="1: the header has no column hallucinated, wrong"):
        read_sheet(sheet)


# -- evidence chosen from the passage's sentences (--evidence choose) ---------------------------


def test_evidence_choices_are_the_passages_sentences_that_count_as_evidence() -> None:
    from medbench.synth.prompts import MAX_CHOICES, evidence_choices

    passage = ("Befund:\nKein Pleuraerguss rechts. Lunge frei belüftet!\nKein Pleuraerguss rechts.\n"
               "Z.n. Lobektomie am 3. Mai 2024. Hb 12.")
    assert evidence_choices(passage) == ["Kein Pleuraerguss rechts.", "Lunge frei belüftet!", "Z.n. Lobektomie am 3. Mai 2024."]
    assert all(c in passage for c in evidence_choices(passage))
    many = "\n".join(f"Befund Nummer {i} ist unauffällig." for i in range(MAX_CHOICES + 5))
    assert len(evidence_choices(many)) == MAX_CHOICES
    assert evidence_choices("OK.\nHb 12.") == []


def test_choose_mode_puts_the_sentences_into_the_schema_and_the_prompt_says_so() -> None:
    from medbench.synth.prompts import answer_schema, evidence_choices

    text = "Kein Pleuraerguss rechts. Lunge frei belüftet."
    quote, choose = Templates.load("de"), Templates.load("de", evidence="choose")
    assert "wörtlich aus dem Abschnitt zitiert" in quote.messages(text, None, None, 2)[1]["content"]
    assert "Wähle für jede Frage zuerst" in choose.messages(text, None, None, 2)[1]["content"]
    assert "first choose" in Templates.load("en", evidence="choose").messages(text, None, None, 2)[1]["content"]
    item = answer_schema(2, evidence_choices(text))["properties"]["questions"]["items"]
    assert item["properties"]["evidence"] == {"type": "string", "enum": ["Kein Pleuraerguss rechts.", "Lunge frei belüftet."]}
    assert list(item["properties"]) == ["evidence", "question", "kind"] == item["required"]
    assert list(answer_schema(2)["properties"]["questions"]["items"]["properties"]) == ["question", "kind", "evidence"]
    assert "enum" not in answer_schema(2)["properties"]["questions"]["items"]["properties"]["evidence"]
    body = request_body("m", choose.messages(text, None, None, 2), 2, 0.2, evidence_choices(text))
    assert body["temperature"] == 0.2 and request_key(body) != request_key(request_body("m", choose.messages(text, None, None, 2), 2, 0.2))
    with pytest.raises(MedbenchError, match="unknown evidence mode 'pick'"):
        Templates.load("de", evidence="pick")
