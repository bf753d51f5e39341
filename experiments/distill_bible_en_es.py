"""Sequence-level knowledge distillation (Kim & Rush 2016) of the main job's model into a half-size student.

Run:      xling train --workdir runs/bible_en_es                      # the teacher: the README's main job
          xling distill --teacher runs/bible_en_es --dataset bible --out bible_kd   # beam 4, both directions
          for s in refs distilled mixed; do
            xling train --config experiments/distill_bible_en_es.py:$s --workdir runs/student_$s
            xling eval --workdir runs/student_$s --split test --compare runs/student_refs
          done
          xling bench decode --workdir runs/student_distilled --engines xling --beam 4   # and --beam 1
Hardware: 2 CPU cores (AMD EPYC, 2026-12-06): distilling 29,961 verses each way 33 min (beside other
          jobs), a student 6-7 min.
Expected: test books, BLEU / chrF++; p from paired bootstrap against student_refs with the same search:
            run                beam 4: en->es        es->en                greedy: en->es        es->en
            teacher (1.9M)     13.43 / 32.87         15.37 / 36.10         11.81 / 31.75         14.41 / 35.56
            refs (0.5M)        12.94 / 32.16         14.90 / 35.63         10.08 / 30.12         13.17 / 34.84
            distilled          12.33 / 30.92 p.015   13.98 / 33.14 p.002   11.57 / 30.47 p.001   13.63 / 34.06 p.035
            mixed              12.61 / 30.58 p.11    14.17 / 33.89 p.001   11.25 / 29.97 p.001   13.87 / 34.24 p.006
          Decoding (xling bench decode --engines xling --sentences 128): teacher 3,086 tok/s beam 4,
          12,410 greedy; student 9,000 and 34,094; the distilled student with --quantize int8 11,385
          and 12.48 / 31.01, 14.06 / 33.21 BLEU / chrF++ on the test books.
          Distilled targets make greedy search nearly as good as beam (Kim & Rush's finding: +1.5 / +0.5
          BLEU greedy over the student on references) but cost 0.6 / 0.9 BLEU with beam search: this
          teacher is weak (13 BLEU) and barely above the student, so it hands down its errors.

Students are half the teacher's width (emb 64, mlp 256, 2 heads of 32) and 2 layers where it has 3
(0.5M params against 1.9M), trained as long as the teacher (4,000 steps): on the references
(`refs`), on the teacher's beam-4 translations of the same training sources (`distilled`), or on
both half and half (`mixed`, data.distill_ratio=0.5). All are scored on the Bible's references.
"""
from xling_jax.configs.default import get_config as default_config

STUDENTS = ("refs", "distilled", "mixed")
DISTILLED = ("parallel_text/bible_kd:en-es", "parallel_text/bible_kd:es-en")


def get_config(student: str = "distilled"):
    if student not in STUDENTS:
        raise ValueError(f"student {student!r}: one of {', '.join(STUDENTS)}")
    c = default_config()
    c.model.emb_dim = 64
    c.model.mlp_dim = 256
    c.model.num_heads = 2
    c.model.num_layers = 2
    if student == "distilled":
        c.data.mixture = DISTILLED
    elif student == "mixed":
        c.data.mixture = ("bible:en-es", *DISTILLED)  # both_directions adds bible:es-en
        c.data.distill_ratio = 0.5
    return c
