"""Which findings may serve in an item: generic terms never, age-bound findings only at a possible age.

- *Generic* nodes are too broad to discriminate or are no findings at all: HPO's grouping terms
  ('Abnormality of the eye', 'Abnormal heart morphology'), the organ-system levels (a finding with is_a
  children and one or two is_a ancestors: 'Phenotypic abnormality' -> 'Abnormality of the nervous
  system' -> 'Abnormal nervous system physiology'; the root is caught by its name), non-findings
  ('Body weight', 'Pregnancy', 'Death', any '... death': no finding of a living patient) and, among
  drug classes, enzyme inhibition or induction that is
  no mechanism of action ('Cytochrome P450 3A4 Inhibitors'). They are never observed, stated absent,
  nor options.
- ``MIN_AGE``: the youngest age (years) at which a finding can be noticed ('absent speech' needs a
  child old enough to speak, 'amenorrhea' a postpubertal girl). The stated age is raised to it
  (``render.patient``); pertinent negatives use only findings without one.
"""

from __future__ import annotations

import re

import numpy as np

GENERIC_NAME = (r"^(abnormal|abnormality|abnormalities|aplasia hypoplasia|morphological|functional)\b"
                r"|^(body weight|body height|weight|height|pregnancy|death|sudden death|drug [a-z ]+|"
                r"no adverse event|adverse drug reaction|therapeutic response [a-z ]+|"
                r"phenotypic abnormality|clinical modifier|disease)$|\bdeath\b|\bsudep\b"
                r"|(cytochrome p ?450|\bcyp ?[0-9][a-z0-9]*)\b.*\b(inhibitors?|inducers?|substrates?)\b"
                r"|\b(inhibitors?|inducers?) of (cytochrome|cyp)")
MIN_AGE: tuple[tuple[str, float], ...] = (
    (r"speech|language|verbal|dysarthri|stutter|aphasi|echolalia|babbl|articulat", 2.0),
    (r"gait|walking|running|clumsi|handwriting|fine motor", 2.0),
    (r"intellectual disability|mental retardation|cognitive|learning|dementia|memory|dyslexia|"
     r"dyscalculia|reading|writing|attention deficit|hyperactiv|school|autis|behavio", 3.0),
    (r"psychos|psychotic|schizophren|depressi|anxiety|suicid|bipolar|hallucinat|delusion|substance|"
     r"alcohol", 10.0),
    (r"pubert|menarche|amenorrh|menstru|menorrh|infertil|erectile|libido|gynecomastia|hirsutism|"
     r"azoosperm|oligosperm|oligozoosperm|hypogonadism|spermat|breast|ovarian failure|impotence|"
     r"secondary sexual", 12.0),
)
_MIN_AGE = [(re.compile(p), a) for p, a in MIN_AGE]


def min_age(norm: str) -> float:
    """The youngest age in years for a finding's normalized name (0: any age).

    >>> min_age("absent speech"), min_age("seizure"), min_age("primary amenorrhea")
    (2.0, 0.0, 12.0)
    """
    return max([a for p, a in _MIN_AGE if p.search(norm)] or [0.0])


def finding_masks(names, types: np.ndarray, n_anc: np.ndarray, n_desc: np.ndarray,
                  finding_codes: list[int], class_code: int) -> tuple[np.ndarray, np.ndarray]:
    """(generic bool, min_age float32) per node, from a pyarrow names array (see the module docstring)."""
    import pyarrow.compute as pc

    from fleming.synth.names import normalize

    norm = normalize(names.cast("string"))
    finding = np.isin(types, finding_codes)
    by_name = pc.match_substring_regex(norm, GENERIC_NAME).to_numpy(zero_copy_only=False)
    by_name = np.asarray(by_name, dtype=bool) & (finding | (types == class_code))
    grouping = finding & (n_desc > 0) & (n_anc >= 1) & (n_anc <= 2)
    age = np.zeros(len(types), np.float32)
    for p, a in MIN_AGE:
        hit = np.asarray(pc.match_substring_regex(norm, p).to_numpy(zero_copy_only=False), dtype=bool)
        age = np.where(hit & finding, np.maximum(age, a), age).astype(np.float32)
    return by_name | grouping, age
