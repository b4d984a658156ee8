"""The scalable certified method: auction on a sparse candidate graph with
column generation, bounded by LP duality.

1. Separable prices: the row-only problem (each row holds <= C words) and the
   column-only problem (each column <= R) are transportation problems; a
   group-level auction on each (`transport`: an overfull group evicts its
   excess at once) gives prices a [R], b [C] (and the separable bound).
2. Candidates: each word's kr best rows (under loss_row + a) x kc best
   columns (under loss_col + b), plus its cell in the two-stage table (rows
   from the transportation, columns greedily within each row: a complete
   matching exists) and in the previous table.
3. Auction with eps-scaling on that graph from zero prices.
4. Column generation: price all R*C cells (`bounds.price_cells`) at a mix
   of the auction's prices and the best-bound prices so far (`smooth`); add
   up to `per_word` violating cells per word; re-run the auction; stop once
   the certified gap is below `target_gap`. Every pricing gives a lower
   bound, valid whatever the prices.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from . import _rowops
from ._evict import eps_violators, evict_phase
from ._rowops import grid, in_parallel, topk_smallest, two_smallest
from .auction import Auction, AuctionStalled
from .bounds import cell_bound, price_cells, transport_bound
from .candidates import add_columns, prune, set_feasible, violators

log = logging.getLogger(__name__)  # progress, one line a phase: a 793K solve takes many minutes


def transport(loss: np.ndarray, cap: int, rel_tol: float = 1e-5, theta: float = 4.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Row-only problem: words -> K groups holding `cap` each, by the
    group-level auction of _evict.py, dense over all K groups (no candidate
    lists, so no column generation). Returns (prices [K], groups [V], bound).

    eps starts at the 90th percentile of the words' best-vs-second-best gaps
    and shrinks by `theta` a phase down to rel_tol x the mean per-word cost;
    between phases the words more than eps above their best group move to
    it. The bound's slack is then at most (V + D) x the last eps."""
    V, K = loss.shape
    n_all = K * cap
    if n_all < V:
        raise ValueError(f"{K} groups of {cap} cannot hold {V} words")
    best, first, second = two_smallest(loss) if K > 1 else (loss[:, 0], np.zeros(V, np.int64), loss[:, 0])
    eps = float(np.quantile(second - best, 0.9))
    eps_min = max(rel_tol * float(best.mean(dtype=np.float64)), 1e-12)
    price = np.zeros(K)
    grp = np.concatenate([first, np.zeros(n_all - V, np.int64)])  # dummies start in group 0
    exit_val, exit_arg = np.zeros(n_all), np.full(n_all, -1, np.int64)  # each word's best other group

    def scan(e):  # the words more than e above their best group (stale exits scanned again)
        return np.concatenate(in_parallel(lambda lo, hi: eps_violators(loss, price, grp, e, exit_val, exit_arg, lo, hi), n_all))

    movers = scan(eps)  # none: each word starts in its best group
    while True:
        evict_phase(loss, cap, price, grp, max(eps, eps_min), movers, exit_val, exit_arg)
        if eps <= eps_min:
            break
        eps = max(eps / theta, eps_min)
        movers = scan(eps)
    return price, grp[:V], transport_bound(loss, cap, price)


def two_stage(loss_row: np.ndarray, loss_col: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Complete table from a row assignment (<= C words per row): words in
    decreasing column regret (second-best minus best column) each take their
    best free column in their row. [V] cells."""
    best, _, second = two_smallest(loss_col) if loss_col.shape[1] > 1 else (np.zeros(len(rows)),) * 3
    order = np.argsort(best - second, kind="stable")  # largest regret first
    return _rowops.fill_columns(loss_col, rows, order, loss_col.shape[1])


def solve(
    loss_row: np.ndarray,
    loss_col: np.ndarray,
    previous: np.ndarray | None = None,
    kr: int = 12,  # 12 x 12 = 144 candidate cells a word: fewer need an extra pricing round
    kc: int = 12,  # (results/NOTES.md)
    rel_tol: float = 1e-5,
    target_gap: float = 1e-4,
    max_colgen: int | None = None,
    per_word: int = 16,
    max_seconds: float | None = None,
    min_progress: float = 0.05,
    stall_gap: float = 1e-3,
    keep: int | None = 144,
    smooth: float = 0.5,
) -> dict:
    """Returns {'cell_of_word', 'lower_bound', 'separable_bound', 'colgen', 'bids', 'trace', 'phases'}.

    rel_tol: final auction eps as a fraction of the mean per-word cost (the
    auction's own gap is at most about this); target_gap: stop generating
    columns once the certified gap is below it; max_seconds: start no
    column-generation round that would, at the pace of the last one, end
    past it (the first table and bound always come);
    max_colgen: at most this many pricing rounds; by default 30, or no cap
    when max_seconds is given (the time is then the guard: 793K grouped was
    still closing its gap when 30 rounds stopped it).
    min_progress: stop once a round shrank the gap, and raised its own bound,
    by less than this fraction of the last gap, but only once the gap is
    below `stall_gap`: there the bound stalls on rare words' near-ties while
    the table is already good, and above it slow rounds still pay (on
    contended tables 17 rounds took the gap from 38% to 5e-5).
    keep: each round's auction gets each word's `keep` best candidates under
    the last prices (plus the feasible tables); without it every round adds
    per_word columns that every bid scans (contended families at V = 10-30K:
    17-26% less time, as many rounds; results/NOTES.md).
    smooth: price the rounds at smooth x the best-bound prices so far (first
    the separable a_i + b_j) + (1 - smooth) x the auction's (Wentges
    smoothing): each round's auction sees only its candidate graph, and its
    raw prices swing from round to round (100K grouped: 18 -> 15 rounds,
    giant: 15 -> 11; results/NOTES.md). The first round mixes only if the
    auction's own prices bound below the separable ones (mild tables: no).
    The result is the cheapest table and the highest bound over the rounds.
    """
    V, R = loss_row.shape
    C = loss_col.shape[1]
    w = np.arange(V)
    t0 = time.perf_counter()
    if not 0 <= smooth < 1:
        raise ValueError(f"smooth must be in [0, 1), got {smooth}")
    if max_colgen is None:
        max_colgen = 30 if max_seconds is None else 10**9

    trace = []  # [seconds, cost, lower bound] at each pricing: the certified gap over time
    phases: dict[str, float] = {}  # seconds per phase, summed over the rounds: where the time goes
    last = t0

    def say(phase, msg, *a):
        """Log a line; the time since the last one is `phase`'s."""
        nonlocal last
        now = time.perf_counter()
        phases[phase] = phases.get(phase, 0.0) + now - last
        last = now
        log.info("%7.1f s  " + msg, now - t0, *a)

    # Separable prices steer the candidates and the two-stage table. They must
    # be the transportations' converged prices: those of the first candidate
    # graph alone (each word's best groups at zero prices plus an arbitrary
    # feasible one) are the duals of that restricted graph; where whole word
    # groups want the same rows they are far from dual-optimal, and their
    # bound went negative.
    def timed(loss, cap):
        t = time.perf_counter()
        return transport(loss, cap, rel_tol=1e-3), time.perf_counter() - t

    # The two transports are independent and their kernels release the GIL:
    # given two threads they run side by side, and their seconds overlap.
    with ThreadPoolExecutor(min(2, torch.get_num_threads())) as ex:
        jobs = [ex.submit(timed, loss_row, C), ex.submit(timed, loss_col, R)]
        ((a, rows, lb_r), phases["row transport"]), ((b, _, lb_c), phases["column transport"]) = (j.result() for j in jobs)
    last = time.perf_counter()
    log.info("%7.1f s  transports: rows %.1f s, columns %.1f s, separable bound %.6g", last - t0,
             phases["row transport"], phases["column transport"], lb_r + lb_c)
    tr, tc = topk_smallest(loss_row, a, min(kr, R)), topk_smallest(loss_col, b, min(kc, C))
    tables = [two_stage(loss_row, loss_col, rows)] + ([] if previous is None else [previous])
    cand, cost = grid(loss_row, loss_col, tr, tc, spare=len(tables))

    def cell_cost(words, cells):
        return loss_row[words, cells // C].astype(np.float64) + loss_col[words, cells % C]

    # The two-stage table guarantees a complete matching AND fills the cells
    # nobody ranks highly with sensible words; an arbitrary feasible table
    # made the auction push words there through long chains of outbids. Its
    # columns are greedy: an exact assignment per row was 57 s of a 793K solve.
    anchors = slice(cand.shape[1] - len(tables), cand.shape[1])
    for col, table in zip(range(anchors.start, anchors.stop), tables, strict=True):
        set_feasible(cand, cost, col, table, cell_cost(w, table))
    # Zero start prices: starting from a + b costs more bids (results/NOTES.md).
    say("candidates", "two-stage table and candidates: %d per word", cand.shape[1])
    A = Auction(cand, cost, np.zeros(R * C))
    eps_min = rel_tol * float(np.mean(np.min(cost, 1)))
    A.run(A.gap_quantile(), eps_min)
    say("auction", "auction: cost %.9g, %d bids", A.cost[w, A.slot].sum(), A.bids)
    t_round = time.perf_counter()
    # Every bound is valid, the separable one too: keep the highest.
    best_lb, best_cell, best_cost = lb_r + lb_c, None, np.inf
    centre = (a[:, None] + b[None, :]).ravel()  # [R*C]: the prices of best_lb
    lb_prev = -np.inf  # the last round's own bound

    def price_at(alpha):
        """Price every cell at alpha x centre + (1 - alpha) x the auction's
        prices: (those prices [R*C], their bound, price_cells' result, the
        violators (words, cells, gains))."""
        p = alpha * centre + (1 - alpha) * A.price
        shift = p.min()  # bounds are shift-invariant; pricing wants min 0
        pi = (p - shift).reshape(R, C)
        ub = A.best_values(p)[0]
        res = price_cells(loss_row, loss_col, pi, ub - shift, keep_pairs=per_word)
        return p, cell_bound(res["lb"], pi, R * C), res, violators(res, ub, p, eps_min, cell_cost)

    for it in range(1, max_colgen + 1):
        # Round 1 prices at the auction's own prices (on mild tables they are
        # near-optimal) and again at the mix only if their bound is below the
        # separable one; later rounds at the mix, and again at the auction's
        # only if the mix finds no violating cell.
        tries = ((0.0, smooth) if it == 1 else (smooth, 0.0)) if smooth > 0 else (0.0,)
        new = None
        for k, alpha in enumerate(tries):
            p, lb, res, found = price_at(alpha)
            enough = lb > best_lb if it == 1 else len(found[0]) > 0
            if lb > best_lb:
                centre, best_lb = p, lb
            if new is None or len(found[0]):  # cells that beat a word at any prices are worth adding
                new = found
            if enough or k == 1:
                break
            say("pricing", "pricing %d at smooth %.2f: bound %.9g, %d violating cells; pricing again", it, alpha, lb, len(found[0]))
        cost_now = float(A.cost[w, A.slot].sum())
        if cost_now < best_cost:
            best_cell, best_cost = A.assignment(), cost_now
        trace.append([round(time.perf_counter() - t0, 3), best_cost, best_lb])
        say("pricing", "pricing %d: bound %.9g, gap %.2e, %d pairs scanned", it, lb, (best_cost - best_lb) / max(abs(best_lb), 1e-300),
            res["scanned"])
        gap = best_cost - best_lb
        if gap <= target_gap * abs(best_lb) or it == max_colgen:
            break
        # Progress is the gap's shrink or this round's own bound's rise: on
        # contended tables the first rounds' bounds climb from far below the
        # separable one, so the best gap stalls while the prices improve.
        gap_prev = trace[-2][1] - trace[-2][2] if len(trace) > 1 else np.inf
        if gap <= stall_gap * abs(best_lb) and max(gap_prev - gap, lb - lb_prev) < min_progress * gap_prev:
            say("pricing", "stopping: the gap shrank by less than %.0f%% in the last round", 100 * min_progress)
            break
        lb_prev = lb
        now = time.perf_counter()
        if max_seconds is not None and 2 * now - t_round - t0 > max_seconds:
            say("pricing", "stopping: another round would end past %.0f s", max_seconds)
            break
        t_round = now
        if not len(new[0]):
            break
        add_columns(A, *new, per_word, cell_cost)
        if keep is not None:
            anchors = prune(A, keep, anchors)
        A.reset()  # a cold restart: old prices start price wars (results/NOTES.md)
        try:
            A.run(A.gap_quantile(), eps_min)
        except AuctionStalled:  # the rounds so far keep their table and bound
            say("auction", "stopping: round %d's auction stalled", it + 1)
            break
        say("auction", "auction: cost %.9g, %d bids", A.cost[w, A.slot].sum(), A.bids)
    return {
        "cell_of_word": best_cell,
        "lower_bound": best_lb,
        "separable_bound": lb_r + lb_c,
        "colgen": it,
        "bids": A.bids,
        "trace": trace,
        "phases": phases,
    }
