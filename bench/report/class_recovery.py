"""Does the table gather words of one hidden class in the same rows or
columns? (The paper's Figure 5 found place names, times and URLs sharing
rows.) Scores against the synthetic corpus's true classes, and a case study.

AMI is sklearn's `adjusted_mutual_info_score` (arithmetic normalisation),
computed here with scipy to avoid a dependency for one function:
    AMI = (MI - E[MI]) / (mean(H(U), H(V)) - E[MI]),
E[MI] under the hypergeometric model of random labelings with the same
cluster sizes (Vinh, Epps & Bailey, JMLR 2010).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, xlogy


def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(table, (ai, bi), 1)
    return table


def _entropy(counts: np.ndarray) -> float:
    p = counts / counts.sum()
    return float(-xlogy(p, p).sum())


def _expected_mi(a: np.ndarray, b: np.ndarray, n: int) -> float:
    """E[MI] for cluster sizes a [I], b [J] over n items."""
    emi = 0.0
    lg = gammaln(np.arange(n + 2))  # lg[k + 1] = log(k!)
    for ai in a:
        for bj in b:
            k = np.arange(max(1, ai + bj - n), min(ai, bj) + 1)
            if not len(k):
                continue
            log_p = (lg[ai + 1] + lg[bj + 1] + lg[n - ai + 1] + lg[n - bj + 1] - lg[n + 1]
                     - lg[k + 1] - lg[ai - k + 1] - lg[bj - k + 1] - lg[n - ai - bj + k + 1])
            emi += float((k / n * np.log(n * k / (ai * bj)) * np.exp(log_p)).sum())
    return emi


def adjusted_mutual_info(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    table = _contingency(labels_a, labels_b)
    n = int(table.sum())
    a, b = table.sum(1).astype(int), table.sum(0).astype(int)
    if len(a) == len(b) == 1 or len(a) == len(b) == n:
        return 1.0  # identical trivial labelings (sklearn's convention)
    p = table / n
    outer = np.outer(a, b) / n**2
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / outer[nz])).sum())
    emi = _expected_mi(a, b, n)
    denom = (_entropy(a) + _entropy(b)) / 2 - emi
    return float((mi - emi) / denom) if abs(denom) > 1e-15 else 1.0


def table_class_scores(cell_of_word, cols: int, word_class) -> dict[str, float]:
    """AMI of rows and of columns against the true classes, and row purity
    (share of words whose row's most common class is theirs). Words with a
    negative class (no class) are left out."""
    cell = np.asarray(cell_of_word)
    cls = np.asarray(word_class)
    keep = cls >= 0
    rows, col, cls = cell[keep] // cols, cell[keep] % cols, cls[keep]
    purity = _contingency(rows, cls).max(1).sum() / len(cls)
    return {"row_ami": adjusted_mutual_info(rows, cls), "col_ami": adjusted_mutual_info(col, cls),
            "row_purity": float(purity)}


def table_case_study(cell_of_word, cols: int, words, n_rows: int = 5) -> list[list[str]]:
    """The rows holding the most frequent words (ids are in frequency order),
    each as its words left to right."""
    cell = np.asarray(cell_of_word)
    rows = []
    for w in range(len(cell)):
        if cell[w] // cols not in rows:
            rows.append(int(cell[w] // cols))
        if len(rows) == n_rows:
            break
    out = []
    for r in rows:
        in_row = np.flatnonzero(cell // cols == r)
        out.append([words[w] for w in in_row[np.argsort(cell[in_row] % cols)]])
    return out
