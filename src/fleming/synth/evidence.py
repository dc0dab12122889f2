"""Open-world evidence: what may rule an option out when the KG is incomplete.

A missing annotation is not proof of absence: HPO, DO and the shipped Hetionet samples all leave
findings, genes and drugs out. A disease (or other anchor) ``d`` counts as *ruled out* for the patient
only by one of these kinds of evidence, recorded per distractor (``KINDS``):

- ``asserted_negative``: a source states that ``d`` lacks an observed finding (HPO NOT annotation,
  ``lacks_finding``; lacking an is_a ancestor of the finding counts), or a curated non-indication
  (PharmacotherapyDB NOT, ``not_indicated_for``) for drug questions;

A *near competitor* (``near``: a disease having two or more of the observed findings, closed over is_a,
or one of the specific ones, held by at most SPECIFIC anchors) is ruled out only by an asserted
negative: to a clinician it fits as well as the key unless a source excludes it. Blind audits found 18
of 100 items where a missing annotation was all that excluded one, and 8 of 50 where a pertinent
negative did (the competitor's 'very frequent' finding is no obligate one).


- ``pertinent_negative``: the stem says the patient does NOT have ``p`` ("There is no hearing loss"),
  where ``p`` is a hallmark of ``d`` (annotated with frequency >= ``HALLMARK``: HPO 'Obligate' or
  'Very frequent', or a measured share >= 80%, on ``p`` or an is_a descendant of it) and nothing the
  key is annotated with is ``p``, a descendant or an ancestor of it, and ``p`` shares no organ system
  with an observed finding (no 'no proteinuria' beside 'nephrotic syndrome'), the way real vignettes
  rule competitors out;
- ``rich_absence``: ``d``'s profile is *rich* and an observed finding that is a hallmark of the key is
  absent from it: no annotation that is the finding, an is_a ancestor or a descendant of it, nor any
  annotation in the finding's organ system (HPO's top-level groupings: a rich profile with 'Renal
  insufficiency' does not rule out 'Elevated serum creatinine').
  *Rich* = at least ``RICH_MIN`` (20) annotated findings, at least half of them with a frequency.
  Why: an HPO entry of that size with frequencies has been through a full clinical-synopsis curation
  (the median disease has 14 annotations, often without frequencies); such a curation lists the
  features seen in most patients, so a finding present in >= 80% of the key's patients that it never
  mentions, not even in a broader or narrower form, is most likely truly absent. Smaller profiles are
  never read this way.

Closed world (``closed_world``): a KG slice that says so in its meta.json (``fleming.train.world``
writes ``closed_world``) holds every fact of its world, so a pair it lacks is false there: ``d`` is ruled
out when nothing in its profile is an observed finding or is_a-related to it (``touches``), and a finding
is absent from ``d`` the same way. This departs from the open-world rule above on purpose and only for
such a slice (``GraphArrays.cworld``, from ``fleming.kg.store.closed_world``); an open KG never records
this kind.

Sex-specific findings (``findings.MALE``/``FEMALE``: no 'There is no cryptorchidism' about a girl) are
never stated absent. Findings too general to discriminate ('Abnormality of the eye', HPO's organ-system
groupings, 'Body weight') are marked ``generic`` in the index and never serve as findings, negatives or
options.
"""

from __future__ import annotations

from numba import njit

from fleming.kg.schema import TYPE_CODE
from fleming.synth.prims import (
    KERNEL,
    contains,
    has_closed,
    hop_hi,
    hop_lo,
    randint,
    related,
    rhop_hi,
    rhop_lo,
)

HALLMARK = 0.8          # frequency of a hallmark finding (HPO 'Very frequent' is 0.895, 'Obligate' 1.0)
RICH_MIN = 20           # annotated findings of a rich profile ...
RICH_FREQ_SHARE = 0.5   # ... at least this share of them with a frequency
MAX_NEG = 2             # pertinent negatives a stem may state
COMPANION = 0.2         # a finding this share of an observed finding's holders have is never stated absent
COMPANION_MIN = 10      # ... counted over an observed finding held by at least this many anchors
NEAR = 2                # observed findings a near competitor has: only an asserted negative rules it out
SPECIFIC = 100          # ... or one observed finding held by at most this many anchors
COMMON = 150            # an additional-finding distractor held by more anchors ('strabismus', 'short
#                         stature') is plausible in too many conditions for a reader to exclude it
PHENOTYPE = TYPE_CODE["phenotype"]
MAX_SOURCES = 8         # path types: anchors reaching a distractor that must all be ruled out
KINDS = ("none", "asserted_negative", "pertinent_negative", "rich_absence", "closed_world")
ASSERTED, PERTINENT, RICH, CLOSED = 1, 2, 3, 4


@njit(**KERNEL)
def asserted_lacks(g, d, f):
    """A source states d lacks f or an is_a ancestor of f (lacking 'Seizure' rules out 'Focal seizure')."""
    for q in range(g.nptr[d], g.nptr[d + 1]):
        n = g.nidx[q]
        if n == f or contains(g.aidx, g.aptr[f], g.aptr[f + 1], n):
            return True
    return False


@njit(**KERNEL)
def hallmark_of(g, fh, d, p):
    """d is annotated with p, or an is_a descendant of p, at frequency >= HALLMARK."""
    for j in range(hop_lo(g, fh, d), hop_hi(g, fh, d)):
        x = g.hidx[j]
        if g.freq[g.heid[j]] >= HALLMARK and (x == p or contains(g.aidx, g.aptr[x], g.aptr[x + 1], p)):
            return True
    return False


@njit(**KERNEL)
def touches(g, fh, d, f):
    """d has an annotation that is f, an is_a descendant of f, or an is_a ancestor of f."""
    if has_closed(g, fh, d, f):
        return True
    lo, hi = hop_lo(g, fh, d), hop_hi(g, fh, d)
    for q in range(g.aptr[f], g.aptr[f + 1]):  # noqa: SIM110 - numba compiles no generator expressions
        if contains(g.hidx, lo, hi, g.aidx[q]):
            return True
    return False


@njit(**KERNEL)
def same_system(g, fh, d, f):
    """d has an annotation in one of f's organ systems (an is_a ancestor of f flagged ``system``)."""
    for q in range(g.aptr[f], g.aptr[f + 1]):
        s = g.aidx[q]
        if g.system[s] and has_closed(g, fh, d, s):
            return True
    return False


@njit(**KERNEL)
def shares_system(g, x, y):
    """x and y lie in one organ system ('no proteinuria' beside 'nephrotic syndrome' reads as a
    contradiction, though HPO does not relate the two terms)."""
    for q in range(g.aptr[x], g.aptr[x + 1]):
        s = g.aidx[q]
        if g.system[s] and (s == y or contains(g.aidx, g.aptr[y], g.aptr[y + 1], s)):
            return True
    return False


@njit(**KERNEL)
def far_absent(g, fh, d, f):
    """Nothing in d's profile is f, related to f, or in f's organ system."""
    return not touches(g, fh, d, f) and not same_system(g, fh, d, f)


@njit(**KERNEL)
def near(g, fh, d, obs, n_obs):
    """d has (closed over is_a, both ways) at least NEAR of the observed findings, or one of the specific
    ones (held by at most SPECIFIC anchors: left ventricular noncompaction names its own gene list)."""
    m = 0
    for i in range(n_obs):
        if touches(g, fh, d, obs[i]):
            m += 1
            if m >= NEAR or g.rdeg[obs[i]] <= SPECIFIC:
                return True
    return False


@njit(**KERNEL)
def foreign(g, f, obs, n_obs):
    """Finding f is held by at most COMMON anchors, lies outside every observed finding's organ system and
    is related to none of them (an additional-finding distractor: 'cerebellar atrophy' beside ataxia and
    dysarthria is no distractor)."""
    if g.rdeg[f] > COMMON:
        return False
    for i in range(n_obs):  # noqa: SIM110 - numba compiles no generator expressions
        if related(g, f, obs[i]) or shares_system(g, f, obs[i]):
            return False
    return True


@njit(**KERNEL)
def key_hallmark(g, obs_eid, i):
    """Observed finding i is a hallmark of the key (its edge's frequency >= HALLMARK)."""
    return g.freq[obs_eid[i]] >= HALLMARK


@njit(**KERNEL)
def evidence(g, fh, d, obs, obs_eid, n_obs, negs, n_neg):
    """The strongest kind of evidence (above) that d is not the patient's disease, 0 when there is none,
    given the observed findings and the stem's pertinent negatives ``negs[:n_neg]``."""
    if g.cworld[0]:
        for i in range(n_obs):
            if not touches(g, fh, d, obs[i]):
                return CLOSED
    for i in range(n_obs):
        if asserted_lacks(g, d, obs[i]):
            return ASSERTED
    if near(g, fh, d, obs, n_obs):
        return 0
    for i in range(n_neg):
        if hallmark_of(g, fh, d, negs[i]):
            return PERTINENT
    if g.rich[d]:
        for i in range(n_obs):
            if key_hallmark(g, obs_eid, i) and far_absent(g, fh, d, obs[i]):
                return RICH
    return 0


@njit(**KERNEL)
def companion(g, fh, p, o):
    """p goes with o: at least COMPANION of the anchors holding o (>= COMPANION_MIN of them) have p ('no
    hypoalbuminemia' beside nephrotic syndrome contradicts it, though HPO does not relate the terms)."""
    lo, hi = rhop_lo(g, fh, o), rhop_hi(g, fh, o)
    if hi - lo < COMPANION_MIN:
        return False
    both = 0
    for j in range(lo, hi):
        both += has_closed(g, fh, g.ridx[j], p)
    return both >= COMPANION * (hi - lo)


@njit(**KERNEL)
def pick_negative(g, fh, w, d, a, obs, n_obs):
    """The hallmark of d to state as absent: a clinical sign or symptom (no lab or histology result
    the stem never mentions testing for, ``findings.HISTOLOGY``), the most frequent (obligate first),
    then the most specific (held by the fewest anchors); not generic, for any age, nothing the key a
    has related to it (``touches``), not related to the observed findings, in their organ systems or
    their companion (``companion``), nor to the negatives already stated; -1 if none."""
    lo, hi = hop_lo(g, fh, d), hop_hi(g, fh, d)
    n = hi - lo
    start = randint(w.st, n) if n > 0 else 0
    best, best_f, best_deg = -1, 0.0, 1 << 62
    for q in range(n):
        j = lo + (start + q) % n
        p, f = g.hidx[j], g.freq[g.heid[j]]
        if (not f >= HALLMARK or g.generic[p] or g.sexed[p] or g.histo[p] or g.minage[p] > 0
                or g.type_codes[p] != PHENOTYPE):
            continue
        deg = rhop_hi(g, fh, p) - rhop_lo(g, fh, p)      # how many anchors have it: fewer = specific
        if f < best_f or (f == best_f and deg >= best_deg) or touches(g, fh, a, p):
            continue
        ok = True
        for i in range(n_obs):
            if related(g, p, obs[i]) or shares_system(g, p, obs[i]) or companion(g, fh, p, obs[i]):
                ok = False
        for i in range(w.nneg[0]):
            if related(g, p, w.negs[i]):
                ok = False
        if ok:
            best, best_f, best_deg = p, f, deg
    return best


@njit(**KERNEL)
def rule_out(g, fh, w, d, a, obs, obs_eid, n_obs):
    """``evidence`` for d, else a new pertinent negative (a hallmark of d) added to the stem when there is
    room; returns the kind, 0 when d cannot be ruled out."""
    k = evidence(g, fh, d, obs, obs_eid, n_obs, w.negs, w.nneg[0])
    if k or w.nneg[0] >= len(w.negs) or near(g, fh, d, obs, n_obs):
        return k
    p = pick_negative(g, fh, w, d, a, obs, n_obs)
    if p < 0:
        return 0
    w.negs[w.nneg[0]] = p
    w.nneg[0] += 1
    return PERTINENT


@njit(**KERNEL)
def finding_absent(g, fh, d, f):
    """Evidence that anchor d lacks finding f (an additional-finding distractor): asserted, or d's
    profile is rich and nothing in it is f, an ancestor or a descendant of f; in a closed world, d has
    nothing related to f."""
    if g.cworld[0] and not touches(g, fh, d, f):
        return CLOSED
    for q in range(g.nptr[d], g.nptr[d + 1]):
        n = g.nidx[q]
        if n == f or contains(g.aidx, g.aptr[f], g.aptr[f + 1], n):
            return ASSERTED
    if g.rich[d] and far_absent(g, fh, d, f):
        return RICH
    return 0
