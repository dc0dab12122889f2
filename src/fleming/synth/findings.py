"""Which findings may serve in an item: generic terms never, age-bound findings only at a possible age.

- *Generic* nodes are too broad to discriminate or are no findings at all: HPO's grouping terms
  ('Abnormality of the eye', 'Abnormal heart morphology'), the organ-system levels (a finding with is_a
  children and one or two is_a ancestors: 'Phenotypic abnormality' -> 'Abnormality of the nervous
  system' -> 'Abnormal nervous system physiology'; the root is caught by its name), non-findings
  ('Body weight', 'Pregnancy', 'Death', any '... death': no finding of a living patient) and, among
  drug classes, enzyme inhibition or induction that is
  no mechanism of action ('Cytochrome P450 3A4 Inhibitors'). They are never observed, stated absent,
  nor options.
- *Histology* (``HISTOLOGY``): findings seen only under the microscope ('Epidermal acanthosis', 'Ragged-red
  muscle fibers', 'Hyaline membranes'). Blind audits found them read as complaints ('presents with
  hyperparakeratosis'); the stem reports them as a biopsy result (``render``) and never states one
  absent (the stem mentions no biopsy of a competitor).
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
                r"|\b(inhibitors?|inducers?) of (cytochrome|cyp)"
                r"|^[a-z0-9 ,-]*(imaging|laboratory|eeg|ecg|electrocardiogram|histology) "
                r"(abnormality|finding)s?$")
# Findings incompatible with a living patient brought for evaluation (never observed nor options).
LETHAL = r"\b(anencephaly|iniencephaly|acrania|exencephaly|stillbirth|fetal death|lethal)\b"
# A disease entry that is no diagnosis: a risk allele or a trait ('Thyrotoxic periodic paralysis,
# susceptibility to, 2'), never the patient's disease nor an option.
NOT_A_DIAGNOSIS = (r"\bsusceptibility\b|\bquantitative trait\b|\bprotection against\b|\bresistance to\b"
                   r"|\bpersistence\b")         # 'Lactase persistence/nonpersistence': a trait
# Microscopy-only findings (normalized names; RE2, so no look-ahead: 'acanthosis nigricans' is a sign).
HISTOLOGY = (r"\b(epidermal acanthosis|acantholysis|(hyper)?parakeratosis|orthokeratosis|hypergranulosis|"
             r"hypogranulosis|spongiosis|dyskeratosis|hyaline membranes?|ragged.red|lipofuscin|lipopigment|"
             r"storage material|autofluorescent|"
             r"inclusion bod(y|ies)|histolog[a-z]*|biops[a-z]*|electron microscop[a-z]*|ultrastructur[a-z]*|"
             r"muscle fib(er|re)s?|fib(er|re) (type|size|splitting|necrosis|atrophy|predominance|"
             r"grouping))\b")
MIN_AGE: tuple[tuple[str, float], ...] = (
    (r"speech|language|verbal|dysarthri|stutter|aphasi|echolalia|babbl|articulat", 2.0),
    (r"gait|walking|running|clumsi|handwriting|fine motor", 2.0),
    (r"tandem", 5.0),
    (r"intellectual disability|mental retardation|cognitive|learning|dementia|memory|dyslexia|"
     r"dyscalculia|reading|writing|attention deficit|hyperactiv|school|autis|behavio", 3.0),
    (r"psychos|psychotic|schizophren|depressi|anxiety|suicid|bipolar|hallucinat|delusion|substance|"
     r"alcohol", 10.0),
    (r"amenorrh|post ?partum|puerper|eclampsia|miscarriage|spontaneous abortion|obstetric", 15.0),
    (r"nausea|pain|ache\b|myalgia|cramp|paresthesi|dysesthesi|numbness|fatigue|dizziness|vertigo|tinnitus|"
     r"pruritus|itch|photophobia|diplopia|exercise", 3.0),
    (r"visual field|scotoma|color vision|dyschromatopsia|visual acuity", 4.0),
    (r"developmental delay|developmental regression|motor delay|developmental stagnation", 0.75),
    (r"infertil|azoosperm|oligosperm|erectile", 18.0),
    (r"pubert|menarche|menstru|menorrh|libido|gynecomastia|hirsutism|"
     r"azoosperm|oligosperm|oligozoosperm|hypogonadism|spermat|breast|ovarian failure|impotence|"
     r"secondary sexual|eunuchoid", 12.0),
)
_MIN_AGE = [(re.compile(p), a) for p, a in MIN_AGE]
# Sex-specific findings or anchor names (English KG names): the patient's sex follows them (``render``);
# such a finding is never an option nor a stated negative (no 'gynecomastia' offered for a girl, no
# 'There is no cryptorchidism' about one).
MALE = re.compile(r"\b(male|males|men|man|boys?|testis|testes|testicular|scrot\w*|sperm\w*|"
                  r"azoosperm\w*|oligozoosperm\w*|penis|penile|prostat\w*|cryptorchid\w*|micropenis|"
                  r"microphallus|hypospadias|gynecomastia)\b", re.I)
FEMALE = re.compile(r"\b(female|females|women|woman|girls?|ovar\w*|uter\w*|menstru\w*|menarche|amenorrh\w*|"
                    r"vagin\w*|vulv\w*|pregnan\w*|cervix|cervical insufficiency|mammary|lactation|"
                    r"breast hypoplasia|clitor\w*|labia\w*|post-?partum|puerper\w*|eclampsia|"
                    r"preeclampsia|miscarriages?|obstetric)\b", re.I)


def min_age(norm: str) -> float:
    """The youngest age in years for a finding's normalized name (0: any age).

    >>> min_age("absent speech"), min_age("seizure"), min_age("primary amenorrhea")
    (2.0, 0.0, 12.0)
    """
    return max([a for p, a in _MIN_AGE if p.search(norm)] or [0.0])


def finding_masks(names, types: np.ndarray, n_anc: np.ndarray, n_desc: np.ndarray,
                  finding_codes: list[int], class_code: int) -> tuple[np.ndarray, ...]:
    """(generic bool, min_age float32, sexed bool, histology bool) per node, from a pyarrow names array
    (see the module docstring)."""
    import pyarrow.compute as pc

    from fleming.synth.names import normalize

    norm = normalize(names.cast("string"))
    finding = np.isin(types, finding_codes)
    by_name = pc.match_substring_regex(norm, GENERIC_NAME).to_numpy(zero_copy_only=False)
    by_name = np.asarray(by_name, dtype=bool) & (finding | (types == class_code))
    lethal = pc.match_substring_regex(norm, LETHAL).to_numpy(zero_copy_only=False)
    by_name |= np.asarray(lethal, dtype=bool) & finding
    letters = pc.match_substring_regex(norm, "[a-z]").to_numpy(zero_copy_only=False)
    by_name |= ~np.asarray(letters, dtype=bool)              # a name of no letters ('-'): no entity
    trait = pc.match_substring_regex(norm, NOT_A_DIAGNOSIS).to_numpy(zero_copy_only=False)
    by_name |= np.asarray(trait, dtype=bool) & ~finding & (types != class_code)
    grouping = finding & (n_desc > 0) & (n_anc >= 1) & (n_anc <= 2)
    age = np.zeros(len(types), np.float32)
    for p, a in MIN_AGE:
        hit = np.asarray(pc.match_substring_regex(norm, p).to_numpy(zero_copy_only=False), dtype=bool)
        age = np.where(hit & finding, np.maximum(age, a), age).astype(np.float32)
    sexed = np.zeros(len(types), np.bool_)
    for rx in (MALE, FEMALE):
        hit = pc.match_substring_regex(names.cast("string"), rx.pattern, ignore_case=True)
        sexed |= np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool) & finding
    histo = pc.match_substring_regex(norm, HISTOLOGY).to_numpy(zero_copy_only=False)
    return by_name | grouping, age, sexed, np.asarray(histo, dtype=bool) & finding
