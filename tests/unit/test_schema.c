/*
 * test_schema.c - the schema table and the phase machine, checked against the
 * domain specification (DOMAIN.md), not against themselves.
 *
 * Every expected answer here is written down from DOMAIN.md: the allowed phase
 * transitions and the decisions they need, the valid traject positions, the
 * decision orders of R3 and R4, the window table, the seven leefgebieden. The
 * record-id shapes, the creation move (no position -> aanmelding) and the meaning
 * of "no decisions given" (d == NULL) come from the contract in bg_schema.h, which
 * DOMAIN.md does not cover. The schema's own tables are only used to walk over
 * every field, never to compute what a field should do.
 *
 * The phase machine is checked exhaustively: every (from, to) pair of phases 1..9
 * in cycles 0..3, under every combination of decisions (each value of each
 * besluit, none, or an unknown one; signed or not). Those tests report every
 * disagreement (up to a limit) before failing, so one run shows the whole picture.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bg_error.h"
#include "bg_msg.h"
#include "bg_schema.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_REPORTED 30u
#define WHY_CAP 256u

/* ---- values and strings ------------------------------------------------------ */

static bg_value nil_value(void) { return (bg_value){.type = BG_V_NIL}; }
static bg_value bool_value(bool b) { return (bg_value){.type = BG_V_BOOL, .b = b}; }
static bg_value int_value(int64_t i) { return (bg_value){.type = BG_V_INT, .i = i}; }

static bg_value str_value(const char *p, size_t len) {
  return (bg_value){.type = BG_V_STR, .s = {p, (uint32_t)len}};
}

static bg_value cstr_value(const char *s) { return str_value(s, strlen(s)); }

static bg_value bin_value(const char *s) {
  return (bg_value){.type = BG_V_BIN, .s = {s, (uint32_t)strlen(s)}};
}

static bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Whether `word` occurs in `text` as a whole word: "intake" is not found in
 * "intakebesluit", so a phase name is not mistaken for a decision's name. */
static bool contains_word(const char *text, const char *word) {
  size_t n = strlen(word);
  for (const char *p = strstr(text, word); p != NULL; p = strstr(p + 1, word)) {
    if ((p == text || !is_word_char(p[-1])) && !is_word_char(p[n])) return true;
  }
  return false;
}

static const char *or_dash(const char *s) { return s != NULL ? s : "-"; }

static bg_pos at(uint8_t phase, uint32_t cycle) { return (bg_pos){.cycle = cycle, .phase = phase}; }

/* ---- the phase machine as DOMAIN.md states it ------------------------------------- */

/* DOMAIN.md's decision values (value keys: spaces become '_'). */
static const char *const aanmelding_values[] = {"afwijzing", "doorverwijzing", "intakegesprek",
                                                "spoedopname"};
static const char *const intake_values[] = {"afwijzing",        "doorverwijzing",
                                            "wachtlijst",       "proefbegeleiding",
                                            "voorwaardelijke_toelating", "toelating"};
static const char *const evaluatie_values[] = {"uitstroom", "voortzetten"};

typedef enum need {
  NEED_NOTHING,
  NEED_AANMELDINGSBESLUIT,
  NEED_INTAKEBESLUIT,
  NEED_EVALUATIEBESLUIT,
  NEED_SIGNATURE,
} need;

typedef enum cycle_step {
  SAME_CYCLE,  /* to.cycle == from.cycle */
  FIRST_CYCLE, /* to.cycle == 1 (opstart -> analyse) */
  NEXT_CYCLE,  /* to.cycle == from.cycle + 1 */
} cycle_step;

typedef struct domain_move {
  uint8_t from, to;
  cycle_step step;
  need need;
  const char *right[4]; /* decision values that allow the move; NULL-terminated */
} domain_move;

/* "Allowed transitions: 1->2, 1->3 (spoedopname), 1->closed (doorverwijzing/afwijzing),
 * 2->3, 2->2 (wachtlijst), 2->closed (doorverwijzing/afwijzing), 3->4, 4->5, 5->6 (needs
 * the signature), 6->7, 7->4 or 7->5 (cycle + 1), 7->8, 8->closed. Anything else is
 * refused." The decisions: phase 1 ends with the aanmeldingsbesluit, phase 2 with the
 * intakebesluit, phase 7 with the evaluatiebesluit (continue or uitstroom). */
static const domain_move domain_moves[] = {
    {1, 2, SAME_CYCLE, NEED_AANMELDINGSBESLUIT, {"intakegesprek"}},
    {1, 3, SAME_CYCLE, NEED_AANMELDINGSBESLUIT, {"spoedopname"}},
    {1, 9, SAME_CYCLE, NEED_AANMELDINGSBESLUIT, {"doorverwijzing", "afwijzing"}},
    {2, 3, SAME_CYCLE, NEED_INTAKEBESLUIT, {"toelating", "proefbegeleiding", "voorwaardelijke_toelating"}},
    {2, 2, SAME_CYCLE, NEED_INTAKEBESLUIT, {"wachtlijst"}},
    {2, 9, SAME_CYCLE, NEED_INTAKEBESLUIT, {"doorverwijzing", "afwijzing"}},
    {3, 4, FIRST_CYCLE, NEED_NOTHING, {NULL}},
    {4, 5, SAME_CYCLE, NEED_NOTHING, {NULL}},
    {5, 6, SAME_CYCLE, NEED_SIGNATURE, {NULL}},
    {6, 7, SAME_CYCLE, NEED_NOTHING, {NULL}},
    {7, 4, NEXT_CYCLE, NEED_EVALUATIEBESLUIT, {"voortzetten"}},
    {7, 5, NEXT_CYCLE, NEED_EVALUATIEBESLUIT, {"voortzetten"}},
    {7, 8, SAME_CYCLE, NEED_EVALUATIEBESLUIT, {"uitstroom"}},
    {8, 9, SAME_CYCLE, NEED_NOTHING, {NULL}},
};

/* Phases 1-3 come before the first cycle (cycle 0); 4-8 belong to cycle 1 or later;
 * a closed traject (9) may have closed in any cycle. */
static bool domain_position_valid(unsigned phase, uint32_t cycle) {
  if (phase >= 1 && phase <= 3) return cycle == 0;
  if (phase >= 4 && phase <= 8) return cycle >= 1;
  return phase == 9;
}

static const domain_move *domain_move_for(bg_pos from, bg_pos to) {
  if (!domain_position_valid(from.phase, from.cycle) || !domain_position_valid(to.phase, to.cycle))
    return NULL;
  for (size_t i = 0; i < N_ELEMS(domain_moves); i++) {
    const domain_move *m = &domain_moves[i];
    if (m->from != from.phase || m->to != to.phase) continue;
    bool cycle_ok = m->step == SAME_CYCLE    ? to.cycle == from.cycle
                    : m->step == FIRST_CYCLE ? to.cycle == 1
                                             : to.cycle == from.cycle + 1;
    if (cycle_ok) return m;
  }
  return NULL;
}

/* Not in DOMAIN.md but in bg_phase_check's contract: a traject is created by a
 * move from no position ({cycle 0, BG_PH_NONE}) to aanmelding in cycle 0. */
static bool is_creation(bg_pos from, bg_pos to) {
  return from.phase == BG_PH_NONE && from.cycle == 0 && to.phase == BG_PH_AANMELDING && to.cycle == 0;
}

static const char *given_decision(need n, const bg_decisions *d) {
  switch (n) {
    case NEED_AANMELDINGSBESLUIT: return d->aanmeldingsbesluit;
    case NEED_INTAKEBESLUIT: return d->intakebesluit;
    case NEED_EVALUATIEBESLUIT: return d->evaluatiebesluit;
    case NEED_NOTHING:
    case NEED_SIGNATURE: break;
  }
  return NULL;
}

static bool is_right_value(const domain_move *m, const char *value) {
  if (value == NULL) return false;
  for (size_t i = 0; i < N_ELEMS(m->right) && m->right[i] != NULL; i++)
    if (strcmp(m->right[i], value) == 0) return true;
  return false;
}

static bool domain_allows(bg_pos from, bg_pos to, const bg_decisions *d) {
  if (is_creation(from, to)) return true;
  const domain_move *m = domain_move_for(from, to);
  if (m == NULL) return false;
  switch (m->need) {
    case NEED_NOTHING: return true;
    case NEED_SIGNATURE: return d->plan_signed;
    case NEED_AANMELDINGSBESLUIT:
    case NEED_INTAKEBESLUIT:
    case NEED_EVALUATIEBESLUIT: return is_right_value(m, given_decision(m->need, d));
  }
  return false;
}

static const char *decision_name(need n) {
  switch (n) {
    case NEED_AANMELDINGSBESLUIT: return "aanmeldingsbesluit";
    case NEED_INTAKEBESLUIT: return "intakebesluit";
    case NEED_EVALUATIEBESLUIT: return "evaluatiebesluit";
    case NEED_NOTHING:
    case NEED_SIGNATURE: break;
  }
  return NULL;
}

/* Every combination of decisions: each besluit is absent, one of DOMAIN.md's values,
 * or an unknown value; the plan is signed or not. */
#define N_AANMELDING_OPTIONS (N_ELEMS(aanmelding_values) + 2)
#define N_INTAKE_OPTIONS (N_ELEMS(intake_values) + 2)
#define N_EVALUATIE_OPTIONS (N_ELEMS(evaluatie_values) + 2)
#define N_DECISION_SETS (N_AANMELDING_OPTIONS * N_INTAKE_OPTIONS * N_EVALUATIE_OPTIONS * 2)

static const char *option(const char *const *values, size_t n, size_t i) {
  if (i == 0) return NULL;
  return i <= n ? values[i - 1] : "onbekend";
}

static bg_decisions decision_set(size_t k) {
  bg_decisions d;
  d.aanmeldingsbesluit = option(aanmelding_values, N_ELEMS(aanmelding_values), k % N_AANMELDING_OPTIONS);
  k /= N_AANMELDING_OPTIONS;
  d.intakebesluit = option(intake_values, N_ELEMS(intake_values), k % N_INTAKE_OPTIONS);
  k /= N_INTAKE_OPTIONS;
  d.evaluatiebesluit = option(evaluatie_values, N_ELEMS(evaluatie_values), k % N_EVALUATIE_OPTIONS);
  k /= N_EVALUATIE_OPTIONS;
  d.plan_signed = k % 2 != 0;
  return d;
}

static void describe_move(char *out, size_t cap, bg_pos from, bg_pos to, const bg_decisions *d) {
  snprintf(out, cap,
           "%s@%u -> %s@%u {aanmeldingsbesluit=%s intakebesluit=%s evaluatiebesluit=%s signed=%d}",
           bg_phase_name(from.phase), from.cycle, bg_phase_name(to.phase), to.cycle,
           or_dash(d->aanmeldingsbesluit), or_dash(d->intakebesluit), or_dash(d->evaluatiebesluit),
           (int)d->plan_signed);
}

/* Checks one move against DOMAIN.md; prints the first disagreements. */
static void check_move(bg_pos from, bg_pos to, const bg_decisions *d, unsigned *checked, unsigned *failed) {
  char why[WHY_CAP] = "";
  bool want = domain_allows(from, to, d);
  bg_err got = bg_phase_check(from, to, d, why, sizeof why);
  ++*checked;
  if (got == (want ? BG_OK : BG_E_PHASE_TRANSITION)) return;
  if (++*failed <= MAX_REPORTED) {
    char desc[WHY_CAP];
    describe_move(desc, sizeof desc, from, to, d);
    print_message("  %s: DOMAIN.md says %s, bg_phase_check returns %s\n", desc,
                  want ? "allowed" : "refused", bg_err_name((int)got));
  }
}

static void finish(unsigned checked, unsigned failed) {
  if (failed > 0) fail_msg("%u of %u cases disagree with DOMAIN.md (at most %u listed above)", failed, checked, MAX_REPORTED);
}

static const uint32_t pair_cycles[] = {0, 1, 2, 3};

/* Checks one (from, to) pair under every combination of decisions; a pair that
 * disagrees is reported once, with the first combination that shows it. */
static void check_pair(bg_pos from, bg_pos to, unsigned *pairs, unsigned *failed_pairs) {
  ++*pairs;
  for (size_t k = 0; k < N_DECISION_SETS; k++) {
    bg_decisions d = decision_set(k);
    bool want = domain_allows(from, to, &d);
    bg_err got = bg_phase_check(from, to, &d, NULL, 0);
    if (got == (want ? BG_OK : BG_E_PHASE_TRANSITION)) continue;
    if (++*failed_pairs <= MAX_REPORTED) {
      char desc[WHY_CAP];
      describe_move(desc, sizeof desc, from, to, &d);
      print_message("  %s: DOMAIN.md says %s, bg_phase_check returns %s\n", desc, want ? "allowed" : "refused",
                    bg_err_name((int)got));
    }
    return;
  }
  /* Without decisions only the structure counts (see below). */
  bool want = is_creation(from, to) || domain_move_for(from, to) != NULL;
  bg_err got = bg_phase_check(from, to, NULL, NULL, 0);
  if (got != (want ? BG_OK : BG_E_PHASE_TRANSITION) && ++*failed_pairs <= MAX_REPORTED)
    print_message("  %s@%u -> %s@%u without decisions: DOMAIN.md says %s, bg_phase_check returns %s\n",
                  bg_phase_name(from.phase), from.cycle, bg_phase_name(to.phase), to.cycle,
                  want ? "allowed" : "refused", bg_err_name((int)got));
}

static void finish_pairs(unsigned pairs, unsigned failed_pairs) {
  if (failed_pairs > 0)
    fail_msg("%u of %u (from, to) pairs disagree with DOMAIN.md, each under %u decision sets (at most %u listed above)",
             failed_pairs, pairs, (unsigned)N_DECISION_SETS, MAX_REPORTED);
}

static void phase_check_agrees_with_domain_for_every_pair_of_valid_positions(void **state) {
  (void)state;
  unsigned pairs = 0, failed_pairs = 0;
  for (uint8_t fp = 1; fp <= 9; fp++)
    for (size_t fc = 0; fc < N_ELEMS(pair_cycles); fc++)
      for (uint8_t tp = 1; tp <= 9; tp++)
        for (size_t tc = 0; tc < N_ELEMS(pair_cycles); tc++) {
          bg_pos from = at(fp, pair_cycles[fc]), to = at(tp, pair_cycles[tc]);
          if (!domain_position_valid(fp, from.cycle) || !domain_position_valid(tp, to.cycle)) continue;
          check_pair(from, to, &pairs, &failed_pairs);
        }
  finish_pairs(pairs, failed_pairs);
}

/* Phases 1-3 have cycle 0, phases 4-8 a cycle >= 1: a move from or to anything
 * else is not one of the allowed transitions, whatever the decisions. Phase 10 is
 * not a phase; phase 0 (no position) only as the start of the creation move. */
static void phase_check_refuses_every_move_from_or_to_an_invalid_position(void **state) {
  (void)state;
  unsigned pairs = 0, failed_pairs = 0;
  for (uint8_t fp = 0; fp <= 10; fp++)
    for (size_t fc = 0; fc < N_ELEMS(pair_cycles); fc++)
      for (uint8_t tp = 0; tp <= 10; tp++)
        for (size_t tc = 0; tc < N_ELEMS(pair_cycles); tc++) {
          bg_pos from = at(fp, pair_cycles[fc]), to = at(tp, pair_cycles[tc]);
          if (domain_position_valid(fp, from.cycle) && domain_position_valid(tp, to.cycle)) continue;
          check_pair(from, to, &pairs, &failed_pairs);
        }
  finish_pairs(pairs, failed_pairs);
}

/* The forbidden moves DOMAIN.md cares most about, by name; each is refused under
 * every combination of decisions. */
static const struct {
  const char *what;
  bg_pos from, to;
} named_forbidden[] = {
    {"backward intake -> aanmelding", {0, 2}, {0, 1}},
    {"backward opstart -> intake", {0, 3}, {0, 2}},
    {"backward analyse -> opstart", {1, 4}, {0, 3}},
    {"backward planning -> analyse", {1, 5}, {1, 4}},
    {"backward uitvoering -> planning", {2, 6}, {2, 5}},
    {"backward evaluatie -> uitvoering", {1, 7}, {1, 6}},
    {"backward uitstroom -> evaluatie", {1, 8}, {1, 7}},
    {"backward into an earlier cycle", {2, 4}, {1, 6}},
    {"skip analyse -> uitvoering", {1, 4}, {1, 6}},
    {"skip aanmelding -> analyse", {0, 1}, {1, 4}},
    {"skip intake -> analyse", {0, 2}, {1, 4}},
    {"skip opstart -> planning", {0, 3}, {1, 5}},
    {"skip planning -> evaluatie", {1, 5}, {1, 7}},
    {"skip uitvoering -> uitstroom", {1, 6}, {1, 8}},
    {"skip evaluatie -> gesloten", {1, 7}, {1, 9}},
    {"skip evaluatie -> uitvoering of the next cycle", {1, 7}, {2, 6}},
    {"stay in aanmelding", {0, 1}, {0, 1}},
    {"stay in opstart", {0, 3}, {0, 3}},
    {"stay in analyse", {1, 4}, {1, 4}},
    {"stay in planning", {1, 5}, {1, 5}},
    {"stay in uitvoering", {1, 6}, {1, 6}},
    {"stay in evaluatie", {1, 7}, {1, 7}},
    {"stay in uitstroom", {1, 8}, {1, 8}},
    {"stay closed", {1, 9}, {1, 9}},
    {"evaluatie -> analyse in the same cycle", {1, 7}, {1, 4}},
    {"evaluatie -> planning in the same cycle", {2, 7}, {2, 5}},
    {"evaluatie -> analyse two cycles on", {1, 7}, {3, 4}},
    {"evaluatie -> uitstroom in the next cycle", {1, 7}, {2, 8}},
    {"analyse -> planning of the next cycle", {1, 4}, {2, 5}},
    {"planning -> uitvoering of the next cycle", {1, 5}, {2, 6}},
    {"uitvoering -> evaluatie of the next cycle", {1, 6}, {2, 7}},
    {"opstart -> analyse of cycle 2", {0, 3}, {2, 4}},
    {"uitstroom -> gesloten in another cycle", {1, 8}, {2, 9}},
    {"aanmelding -> gesloten in cycle 1", {0, 1}, {1, 9}},
    {"out of closed: aanmelding", {0, 9}, {0, 1}},
    {"out of closed: intake", {0, 9}, {0, 2}},
    {"out of closed: analyse", {1, 9}, {2, 4}},
    {"out of closed: planning", {1, 9}, {2, 5}},
    {"out of closed: uitstroom", {1, 9}, {1, 8}},
    {"uitvoering -> gesloten", {1, 6}, {1, 9}},
    {"analyse -> gesloten", {1, 4}, {1, 9}},
    {"opstart -> gesloten", {0, 3}, {0, 9}},
};

static void named_forbidden_moves_are_refused_whatever_the_decisions(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (size_t i = 0; i < N_ELEMS(named_forbidden); i++) {
    /* The case table must itself say "forbidden" per DOMAIN.md. */
    assert_null(domain_move_for(named_forbidden[i].from, named_forbidden[i].to));
    for (size_t k = 0; k < N_DECISION_SETS; k++) {
      bg_decisions d = decision_set(k);
      char why[WHY_CAP] = "";
      ++checked;
      if (bg_phase_check(named_forbidden[i].from, named_forbidden[i].to, &d, why, sizeof why) !=
          BG_E_PHASE_TRANSITION) {
        if (++failed <= MAX_REPORTED) print_message("  allowed: %s\n", named_forbidden[i].what);
        break;
      }
    }
  }
  finish(checked, failed);
}

/* The cycles in which a move is tried: phases 1-3 only in cycle 0. */
static size_t move_cycles(const domain_move *m, uint32_t out[3]) {
  if (m->from <= 3) {
    out[0] = 0;
    return 1;
  }
  out[0] = 1, out[1] = 2, out[2] = 3;
  return 3;
}

static bg_pos move_target(const domain_move *m, uint32_t from_cycle) {
  uint32_t c = m->step == SAME_CYCLE ? from_cycle : m->step == FIRST_CYCLE ? 1 : from_cycle + 1;
  return at(m->to, c);
}

static void set_decision(bg_decisions *d, need n, const char *value) {
  if (n == NEED_AANMELDINGSBESLUIT) d->aanmeldingsbesluit = value;
  if (n == NEED_INTAKEBESLUIT) d->intakebesluit = value;
  if (n == NEED_EVALUATIEBESLUIT) d->evaluatiebesluit = value;
}

static void domain_values_of(need n, const char *const **values, size_t *count) {
  *values = n == NEED_AANMELDINGSBESLUIT ? aanmelding_values
            : n == NEED_INTAKEBESLUIT   ? intake_values
                                        : evaluatie_values;
  *count = n == NEED_AANMELDINGSBESLUIT ? N_ELEMS(aanmelding_values)
           : n == NEED_INTAKEBESLUIT   ? N_ELEMS(intake_values)
                                       : N_ELEMS(evaluatie_values);
}

static void expect_move(const domain_move *m, uint32_t cycle, const bg_decisions *d, bg_err want,
                        const char *label, unsigned *checked, unsigned *failed) {
  bg_pos from = at(m->from, cycle), to = move_target(m, cycle);
  bg_err got = bg_phase_check(from, to, d, NULL, 0);
  ++*checked;
  if (got == want) return;
  if (++*failed <= MAX_REPORTED) {
    char desc[WHY_CAP];
    describe_move(desc, sizeof desc, from, to, d);
    print_message("  %s (%s): want %s, got %s\n", desc, label, bg_err_name((int)want), bg_err_name((int)got));
  }
}

static void allowed_move_is_refused_without_its_decision(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (size_t i = 0; i < N_ELEMS(domain_moves); i++) {
    const domain_move *m = &domain_moves[i];
    if (m->need == NEED_NOTHING) continue;
    uint32_t cycles[3];
    for (size_t c = 0; c < move_cycles(m, cycles); c++) {
      bg_decisions none = {NULL, NULL, NULL, false};
      expect_move(m, cycles[c], &none, BG_E_PHASE_TRANSITION, "no decision", &checked, &failed);
      if (m->need == NEED_SIGNATURE) {
        /* Every besluit taken, but the plan is not signed. */
        bg_decisions unsigned_plan = {"intakegesprek", "toelating", "voortzetten", false};
        expect_move(m, cycles[c], &unsigned_plan, BG_E_PHASE_TRANSITION, "not signed", &checked, &failed);
      } else {
        /* The right value, but under another decision's name. */
        for (size_t r = 0; m->right[r] != NULL; r++) {
          bg_decisions elsewhere = {m->right[r], m->right[r], m->right[r], true};
          set_decision(&elsewhere, m->need, NULL);
          expect_move(m, cycles[c], &elsewhere, BG_E_PHASE_TRANSITION, "right value, other besluit",
                      &checked, &failed);
        }
      }
    }
  }
  finish(checked, failed);
}

static void allowed_move_is_refused_with_each_wrong_decision_value(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (size_t i = 0; i < N_ELEMS(domain_moves); i++) {
    const domain_move *m = &domain_moves[i];
    if (m->need == NEED_NOTHING || m->need == NEED_SIGNATURE) continue;
    const char *const *values;
    size_t n;
    domain_values_of(m->need, &values, &n);
    /* Values that are not the decision's keys at all, and near misses of right ones. */
    char upper[64], spaced[64], spelled[64];
    snprintf(upper, sizeof upper, "%s", m->right[0]);
    upper[0] = (char)(upper[0] - 'a' + 'A');
    snprintf(spaced, sizeof spaced, "%s ", m->right[0]);
    snprintf(spelled, sizeof spelled, "%s", m->right[0]);
    for (char *p = spelled; *p != '\0'; p++)
      if (*p == '_') *p = ' ';
    const char *strangers[] = {"", "onbekend", upper, spaced, "ja", "uitstroom_", "toelating2"};
    uint32_t cycles[3];
    for (size_t c = 0; c < move_cycles(m, cycles); c++) {
      for (size_t v = 0; v < n; v++) {
        if (is_right_value(m, values[v])) continue;
        bg_decisions d = {NULL, NULL, NULL, true};
        set_decision(&d, m->need, values[v]);
        expect_move(m, cycles[c], &d, BG_E_PHASE_TRANSITION, "wrong value of the besluit", &checked, &failed);
      }
      for (size_t v = 0; v < N_ELEMS(strangers); v++) {
        bg_decisions d = {NULL, NULL, NULL, true};
        set_decision(&d, m->need, strangers[v]);
        expect_move(m, cycles[c], &d, BG_E_PHASE_TRANSITION, "not a value of the besluit", &checked, &failed);
      }
      if (strcmp(spelled, m->right[0]) != 0) {
        bg_decisions d = {NULL, NULL, NULL, true};
        set_decision(&d, m->need, spelled);
        expect_move(m, cycles[c], &d, BG_E_PHASE_TRANSITION, "display spelling, not the key", &checked, &failed);
      }
    }
  }
  finish(checked, failed);
}

static void allowed_move_is_allowed_with_each_right_decision_value(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (size_t i = 0; i < N_ELEMS(domain_moves); i++) {
    const domain_move *m = &domain_moves[i];
    uint32_t cycles[3];
    for (size_t c = 0; c < move_cycles(m, cycles); c++) {
      if (m->need == NEED_NOTHING) {
        bg_decisions none = {NULL, NULL, NULL, false};
        expect_move(m, cycles[c], &none, BG_OK, "needs no decision", &checked, &failed);
        continue;
      }
      /* With only the one decision, and with every other decision in any state. */
      for (size_t k = 0; k < N_DECISION_SETS; k++) {
        bg_decisions d = decision_set(k);
        if (m->need == NEED_SIGNATURE) {
          d.plan_signed = true;
          expect_move(m, cycles[c], &d, BG_OK, "signed", &checked, &failed);
          continue;
        }
        for (size_t r = 0; m->right[r] != NULL; r++) {
          set_decision(&d, m->need, m->right[r]);
          expect_move(m, cycles[c], &d, BG_OK, "right value", &checked, &failed);
        }
      }
      if (m->need != NEED_SIGNATURE)
        for (size_t r = 0; m->right[r] != NULL; r++) {
          bg_decisions only = {NULL, NULL, NULL, false};
          set_decision(&only, m->need, m->right[r]);
          expect_move(m, cycles[c], &only, BG_OK, "only the right value", &checked, &failed);
        }
    }
  }
  finish(checked, failed);
}

/* "Anything else is refused with a clear error": the refusal says where the traject
 * is and where it was asked to go, by the phases' names. */
static void refusal_names_current_and_requested_phase(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  const bg_decisions sets[] = {{NULL, NULL, NULL, false}, {"onbekend", "onbekend", "onbekend", true}};
  for (uint8_t fp = 1; fp <= 9; fp++)
    for (size_t fc = 0; fc < N_ELEMS(pair_cycles); fc++)
      for (uint8_t tp = 1; tp <= 9; tp++)
        for (size_t tc = 0; tc < N_ELEMS(pair_cycles); tc++)
          for (size_t s = 0; s < N_ELEMS(sets); s++) {
            bg_pos from = at(fp, pair_cycles[fc]), to = at(tp, pair_cycles[tc]);
            if (domain_allows(from, to, &sets[s])) continue;
            char why[WHY_CAP] = "";
            if (bg_phase_check(from, to, &sets[s], why, sizeof why) != BG_E_PHASE_TRANSITION) continue;
            ++checked;
            if (contains_word(why, bg_phase_name(fp)) && contains_word(why, bg_phase_name(tp))) continue;
            if (++failed <= MAX_REPORTED)
              print_message("  %s@%u -> %s@%u: why = \"%s\"\n", bg_phase_name(fp), from.cycle,
                            bg_phase_name(tp), to.cycle, why);
          }
  finish(checked, failed);
}

/* Where the move is one of the allowed ones but its decision is missing or wrong,
 * the refusal says what is missing: the besluit and the values that would allow
 * it, or the client's signature. */
static void refusal_for_a_missing_decision_names_what_is_missing(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (size_t i = 0; i < N_ELEMS(domain_moves); i++) {
    const domain_move *m = &domain_moves[i];
    if (m->need == NEED_NOTHING) continue;
    uint32_t cycles[3];
    for (size_t c = 0; c < move_cycles(m, cycles); c++) {
      bg_pos from = at(m->from, cycles[c]), to = move_target(m, cycles[c]);
      bg_decisions none = {NULL, NULL, NULL, false};
      bg_decisions wrong = {"onbekend", "onbekend", "onbekend", false};
      const bg_decisions *sets[] = {&none, &wrong};
      for (size_t s = 0; s < N_ELEMS(sets); s++) {
        char why[WHY_CAP] = "";
        assert_int_equal(bg_phase_check(from, to, sets[s], why, sizeof why), BG_E_PHASE_TRANSITION);
        ++checked;
        bool ok = contains_word(why, bg_phase_name(m->from)) && contains_word(why, bg_phase_name(m->to));
        if (m->need == NEED_SIGNATURE) {
          ok = ok && strstr(why, "sign") != NULL;
        } else {
          ok = ok && contains_word(why, decision_name(m->need));
          for (size_t r = 0; m->right[r] != NULL; r++) ok = ok && contains_word(why, m->right[r]);
        }
        if (!ok && ++failed <= MAX_REPORTED)
          print_message("  %s@%u -> %s@%u: why = \"%s\"\n", bg_phase_name(from.phase), from.cycle,
                        bg_phase_name(to.phase), to.cycle, why);
      }
    }
  }
  finish(checked, failed);
}

/* `why` may be NULL; otherwise it is filled within its length and terminated. */
static void refusal_text_stays_within_its_buffer(void **state) {
  (void)state;
  const bg_decisions none = {NULL, NULL, NULL, false};
  assert_int_equal(bg_phase_check(at(1, 0), at(2, 0), &none, NULL, 0), BG_E_PHASE_TRANSITION);
  assert_int_equal(bg_phase_check(at(5, 1), at(4, 1), &none, NULL, 0), BG_E_PHASE_TRANSITION);

  char buf[32];
  memset(buf, 'Z', sizeof buf);
  assert_int_equal(bg_phase_check(at(1, 0), at(2, 0), &none, buf, 0), BG_E_PHASE_TRANSITION);
  assert_int_equal(buf[0], 'Z');

  memset(buf, 'Z', sizeof buf);
  assert_int_equal(bg_phase_check(at(1, 0), at(2, 0), &none, buf, 8), BG_E_PHASE_TRANSITION);
  assert_true(memchr(buf, '\0', 8) != NULL);
  for (size_t i = 8; i < sizeof buf; i++) assert_int_equal(buf[i], 'Z');
}

static void traject_is_created_only_from_no_position_into_aanmelding(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  const bg_decisions none = {NULL, NULL, NULL, false};
  assert_int_equal(bg_phase_check(at(BG_PH_NONE, 0), at(BG_PH_AANMELDING, 0), &none, NULL, 0), BG_OK);
  assert_int_equal(bg_phase_check(at(BG_PH_NONE, 0), at(BG_PH_AANMELDING, 0), NULL, NULL, 0), BG_OK);
  for (uint8_t p = 0; p <= 10; p++)
    for (size_t c = 0; c < N_ELEMS(pair_cycles); c++)
      for (size_t k = 0; k < N_DECISION_SETS; k++) {
        bg_decisions d = decision_set(k);
        /* From nowhere: only into aanmelding of cycle 0. */
        check_move(at(BG_PH_NONE, 0), at(p, pair_cycles[c]), &d, &checked, &failed);
        /* Nothing leads back to no position, and no position has no cycle. */
        check_move(at(p, pair_cycles[c]), at(BG_PH_NONE, 0), &d, &checked, &failed);
        if (pair_cycles[c] > 0) check_move(at(BG_PH_NONE, pair_cycles[c]), at(1, 0), &d, &checked, &failed);
      }
  finish(checked, failed);
}

/* With no decisions given (d == NULL) only the structure is judged: every move of
 * the machine is allowed, every other move refused, with the same `why`. (Pairs
 * with an invalid position are covered, with and without decisions, above.) */
static void without_decisions_only_the_structure_is_checked(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (uint8_t fp = 0; fp <= 9; fp++)
    for (size_t fc = 0; fc < N_ELEMS(pair_cycles); fc++)
      for (uint8_t tp = 1; tp <= 9; tp++)
        for (size_t tc = 0; tc < N_ELEMS(pair_cycles); tc++) {
          bg_pos from = at(fp, pair_cycles[fc]), to = at(tp, pair_cycles[tc]);
          bool from_ok = fp == BG_PH_NONE ? from.cycle == 0 : domain_position_valid(fp, from.cycle);
          if (!from_ok || !domain_position_valid(tp, to.cycle)) continue;
          bool want = is_creation(from, to) || domain_move_for(from, to) != NULL;
          char why[WHY_CAP] = "";
          bg_err got = bg_phase_check(from, to, NULL, why, sizeof why);
          ++checked;
          bool ok = got == (want ? BG_OK : BG_E_PHASE_TRANSITION);
          if (ok && !want && fp >= 1 && fp <= 9 && tp >= 1 && tp <= 9)
            ok = contains_word(why, bg_phase_name(fp)) && contains_word(why, bg_phase_name(tp));
          if (!ok && ++failed <= MAX_REPORTED)
            print_message("  %s@%u -> %s@%u without decisions: want %s, got %s (why \"%s\")\n", bg_phase_name(fp),
                          from.cycle, bg_phase_name(tp), to.cycle, want ? "BG_OK" : "BG_E_PHASE_TRANSITION",
                          bg_err_name((int)got), why);
        }
  finish(checked, failed);
}

/* ---- phase names -------------------------------------------------------------------- */

static void phases_carry_the_domain_names(void **state) {
  (void)state;
  static const char *const names[] = {NULL,       "aanmelding", "intake",    "opstart",   "analyse",
                                      "planning", "uitvoering", "evaluatie", "uitstroom", "gesloten"};
  for (int p = 1; p <= BG_PHASE_MAX; p++) {
    assert_string_equal(bg_phase_name(p), names[p]);
    assert_int_equal(bg_phase_by_name(names[p], strlen(names[p])), p);
  }
  assert_string_equal(bg_phase_name(BG_PHASE_MAX + 1), "?");
  assert_string_equal(bg_phase_name(-1), "?");
  assert_int_equal(bg_phase_by_name("Intake", 6), 0);
  assert_int_equal(bg_phase_by_name("intak", 5), 0);
}

/* ---- positions ----------------------------------------------------------------------- */

static void position_encodes_as_cycle_times_16_plus_phase_and_round_trips(void **state) {
  (void)state;
  static const bg_pos valid[] = {
      {0, 1},          {0, 2},          {0, 3},          {1, 4},          {1, 5},  {1, 6},
      {1, 7},          {1, 8},          {2, 4},          {3, 7},          {1000, 6}, {UINT32_MAX, 8},
      {UINT32_MAX, 4}, {0, 9},          {1, 9},          {7, 9},          {UINT32_MAX, 9},
  };
  for (size_t i = 0; i < N_ELEMS(valid); i++) {
    int64_t v = bg_pos_encode(valid[i]);
    assert_true(v == (int64_t)valid[i].cycle * 16 + valid[i].phase);
    bg_pos back = {12345, 15};
    assert_true(bg_pos_decode(v, &back));
    assert_int_equal(back.cycle, valid[i].cycle);
    assert_int_equal(back.phase, valid[i].phase);
  }
}

static void invalid_positions_do_not_decode(void **state) {
  (void)state;
  static const struct {
    const char *what;
    int64_t v;
  } invalid[] = {
      {"phase 0, cycle 0", 0},
      {"phase 0, cycle 1", 16},
      {"phase 0, cycle 5", 80},
      {"phase 10", 10},
      {"phase 11", 11},
      {"phase 15", 15},
      {"phase 10, cycle 1", 26},
      {"phase 15, cycle 1", 31},
      {"aanmelding in cycle 1", 17},
      {"intake in cycle 1", 18},
      {"opstart in cycle 1", 19},
      {"aanmelding in cycle 2", 33},
      {"opstart in cycle 7", 7 * 16 + 3},
      {"analyse in cycle 0", 4},
      {"planning in cycle 0", 5},
      {"uitvoering in cycle 0", 6},
      {"evaluatie in cycle 0", 7},
      {"uitstroom in cycle 0", 8},
      {"negative -1", -1},
      {"negative analyse", -16 + 4},
      {"negative -16", -16},
      {"INT64_MIN", INT64_MIN},
      {"cycle beyond 32 bits, analyse", ((int64_t)UINT32_MAX + 1) * 16 + 4},
      {"cycle beyond 32 bits, closed", ((int64_t)UINT32_MAX + 1) * 16 + 9},
      {"INT64_MAX", INT64_MAX},
  };
  for (size_t i = 0; i < N_ELEMS(invalid); i++) {
    bg_pos p;
    if (bg_pos_decode(invalid[i].v, &p)) fail_msg("decoded an invalid position: %s", invalid[i].what);
  }
}

static void closed_is_a_position_in_any_cycle(void **state) {
  (void)state;
  static const uint32_t cycles[] = {0, 1, 2, 3, 100, UINT32_MAX};
  for (size_t i = 0; i < N_ELEMS(cycles); i++) {
    bg_pos p;
    assert_true(bg_pos_decode((int64_t)cycles[i] * 16 + BG_PH_GESLOTEN, &p));
    assert_int_equal(p.cycle, cycles[i]);
    assert_int_equal(p.phase, BG_PH_GESLOTEN);
  }
}

/* ---- record ids ------------------------------------------------------------------------ */

typedef struct rid_case {
  int rtype;
  const char *rid;
  bool ok;
  uint32_t cycle; /* when ok */
} rid_case;

static const rid_case rid_cases[] = {
    /* per cycle: "<cycle>", a decimal > 0 without leading zeros */
    {BG_RT_PLAN, "1", true, 1},
    {BG_RT_PLAN, "12", true, 12},
    {BG_RT_PLAN, "4294967295", true, UINT32_MAX},
    {BG_RT_EVALUATIE, "1", true, 1},
    {BG_RT_EVALUATIE, "12", true, 12},
    {BG_RT_PLAN, "0", false, 0},
    {BG_RT_PLAN, "01", false, 0},
    {BG_RT_PLAN, "-1", false, 0},
    {BG_RT_PLAN, "+1", false, 0},
    {BG_RT_PLAN, "1a", false, 0},
    {BG_RT_PLAN, "", false, 0},
    {BG_RT_PLAN, " 1", false, 0},
    {BG_RT_PLAN, "1 ", false, 0},
    {BG_RT_PLAN, "1.5", false, 0},
    {BG_RT_PLAN, "1/wonen", false, 0},
    {BG_RT_PLAN, "4294967296", false, 0},
    {BG_RT_EVALUATIE, "0", false, 0},
    {BG_RT_EVALUATIE, "01", false, 0},
    {BG_RT_EVALUATIE, "-1", false, 0},
    {BG_RT_EVALUATIE, "1a", false, 0},
    {BG_RT_EVALUATIE, "", false, 0},
    /* per cycle and leefgebied: "<cycle>/<leefgebied key>" */
    {BG_RT_PB, "1/wonen", true, 1},
    {BG_RT_PB, "2/financien", true, 2},
    {BG_RT_PB, "12/werk_en_activiteiten", true, 12},
    {BG_RT_PB, "3/eigen-leefgebied2", true, 3},
    {BG_RT_PB, "1/Wonen", false, 0},
    {BG_RT_PB, "1/", false, 0},
    {BG_RT_PB, "/wonen", false, 0},
    {BG_RT_PB, "0/wonen", false, 0},
    {BG_RT_PB, "01/wonen", false, 0},
    {BG_RT_PB, "1wonen", false, 0},
    {BG_RT_PB, "wonen", false, 0},
    {BG_RT_PB, "1", false, 0},
    {BG_RT_PB, "1/financi\xc3\xabn", false, 0},
    {BG_RT_PB, "1/wonen/2", false, 0},
    {BG_RT_PB, "1/wo nen", false, 0},
    {BG_RT_PB, "1:wonen", false, 0},
    {BG_RT_PB, "", false, 0},
    /* made in a cycle: "<cycle>:<device>.<counter>" */
    {BG_RT_DOEL, "1:7.88", true, 1},
    {BG_RT_DOEL, "12:3.4", true, 12},
    {BG_RT_ACTIE, "1:7.88", true, 1},
    {BG_RT_ACTIE, "2:1.1", true, 2},
    {BG_RT_DOEL, "1:0.5", false, 0},
    {BG_RT_DOEL, "1:7.0", false, 0},
    {BG_RT_DOEL, "1:7", false, 0},
    {BG_RT_DOEL, "7.88", false, 0},
    {BG_RT_DOEL, "0:7.88", false, 0},
    {BG_RT_DOEL, "01:7.88", false, 0},
    {BG_RT_DOEL, "1:07.8", false, 0},
    {BG_RT_DOEL, "1:7.", false, 0},
    {BG_RT_DOEL, "1:.8", false, 0},
    {BG_RT_DOEL, "1:7.88x", false, 0},
    {BG_RT_DOEL, "1:7.88.9", false, 0},
    {BG_RT_DOEL, "1/7.88", false, 0},
    {BG_RT_DOEL, "1:", false, 0},
    {BG_RT_DOEL, "", false, 0},
    {BG_RT_ACTIE, "1:0.5", false, 0},
    {BG_RT_ACTIE, "1:7.0", false, 0},
    {BG_RT_ACTIE, "1:7", false, 0},
    {BG_RT_ACTIE, "7.88", false, 0},
    /* made any time: "<device>.<counter>" */
    {BG_RT_NETWERK, "7.88", true, 0},
    {BG_RT_NETWERK, "1.1", true, 0},
    {BG_RT_RAPPORTAGE, "7.88", true, 0},
    {BG_RT_VOORSTEL, "7.88", true, 0},
    {BG_RT_NETWERK, "07.8", false, 0},
    {BG_RT_NETWERK, "7.", false, 0},
    {BG_RT_NETWERK, ".8", false, 0},
    {BG_RT_NETWERK, "0.5", false, 0},
    {BG_RT_NETWERK, "7.0", false, 0},
    {BG_RT_NETWERK, "7.08", false, 0},
    {BG_RT_NETWERK, "7", false, 0},
    {BG_RT_NETWERK, "7..8", false, 0},
    {BG_RT_NETWERK, "7.8.9", false, 0},
    {BG_RT_NETWERK, "-7.8", false, 0},
    {BG_RT_NETWERK, "1:7.88", false, 0},
    {BG_RT_NETWERK, "", false, 0},
    {BG_RT_RAPPORTAGE, "07.8", false, 0},
    {BG_RT_RAPPORTAGE, "7.", false, 0},
    {BG_RT_RAPPORTAGE, ".8", false, 0},
    {BG_RT_RAPPORTAGE, "1:7.88", false, 0},
    {BG_RT_VOORSTEL, "07.8", false, 0},
    {BG_RT_VOORSTEL, "7.", false, 0},
    {BG_RT_VOORSTEL, ".8", false, 0},
    /* organisation data: the leefgebied's lowercase key */
    {BG_RT_LEEFGEBIED, "wonen", true, 0},
    {BG_RT_LEEFGEBIED, "sociale_relaties", true, 0},
    {BG_RT_LEEFGEBIED, "eigen-leefgebied2", true, 0},
    {BG_RT_LEEFGEBIED, "Wonen", false, 0},
    {BG_RT_LEEFGEBIED, "WONEN", false, 0},
    {BG_RT_LEEFGEBIED, "financi\xc3\xabn", false, 0},
    {BG_RT_LEEFGEBIED, "sociale relaties", false, 0},
    {BG_RT_LEEFGEBIED, "1/wonen", false, 0},
    {BG_RT_LEEFGEBIED, "", false, 0},
};

static bool keying_has_cycle(int keying) {
  return keying == BG_KEY_CYCLE || keying == BG_KEY_CYCLE_LG || keying == BG_KEY_CYCLE_DOT;
}

static void check_rid(int rtype, bg_str rid, bool want_ok, uint32_t want_cycle, unsigned *failed) {
  const bg_rtype_def *rt = bg_rtype((uint32_t)rtype);
  assert_non_null(rt);
  bg_rid_info info = {999, true};
  bg_err got = bg_rid_parse(rt, rid, &info);
  bool ok = want_ok ? got == BG_OK && info.cycle == want_cycle && info.has_cycle == keying_has_cycle(rt->keying)
                    : got == BG_E_UNKNOWN_RECORD;
  if (!ok && ++*failed <= MAX_REPORTED)
    print_message("  %s \"%.*s\": want %s (cycle %u), got %s (cycle %u, has_cycle %d)\n", rt->name,
                  (int)rid.len, rid.p, want_ok ? "BG_OK" : "BG_E_UNKNOWN_RECORD", want_cycle,
                  bg_err_name((int)got), info.cycle, (int)info.has_cycle);
}

static void record_ids_follow_their_types_keying_and_report_the_cycle(void **state) {
  (void)state;
  unsigned failed = 0;
  for (size_t i = 0; i < N_ELEMS(rid_cases); i++)
    check_rid(rid_cases[i].rtype, bg_str_c(rid_cases[i].rid), rid_cases[i].ok, rid_cases[i].cycle, &failed);
  finish((unsigned)N_ELEMS(rid_cases), failed);
}

static const struct {
  int rtype;
  const char *key;
} singletons[] = {
    {BG_RT_CLIENT, "c"},    {BG_RT_TRAJECT, "t"}, {BG_RT_AANMELDING, "a"},
    {BG_RT_INTAKE, "i"},    {BG_RT_OPSTART, "o"}, {BG_RT_UITSTROOM, "u"},
};

static void singleton_record_has_exactly_its_one_id(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (size_t i = 0; i < N_ELEMS(singletons); i++) {
    for (size_t j = 0; j < N_ELEMS(singletons); j++, checked++)
      check_rid(singletons[i].rtype, bg_str_c(singletons[j].key), i == j, 0, &failed);
    char upper[2] = {(char)(singletons[i].key[0] - 'a' + 'A'), '\0'};
    char twice[3] = {singletons[i].key[0], singletons[i].key[0], '\0'};
    char cycle[3] = {singletons[i].key[0], '1', '\0'};
    const char *others[] = {"", upper, twice, cycle, "1", "7.88", "x"};
    for (size_t k = 0; k < N_ELEMS(others); k++, checked++)
      check_rid(singletons[i].rtype, bg_str_c(others[k]), false, 0, &failed);
    /* The key followed by a NUL byte is not the key. */
    char nul[2] = {singletons[i].key[0], '\0'};
    check_rid(singletons[i].rtype, (bg_str){nul, 2}, false, 0, &failed);
    checked++;
  }
  finish(checked, failed);
}

/* ---- values ----------------------------------------------------------------------------- */

static char big_text[BG_VALUE_MAX + 2];

static void check_value(const bg_rtype_def *rt, const bg_field_def *f, bg_value v, bool ok, const char *what,
                         unsigned *checked, unsigned *failed) {
  bg_err got = bg_value_check(f, &v);
  ++*checked;
  if (got == (ok ? BG_OK : BG_E_VALUE)) return;
  if (++*failed <= MAX_REPORTED)
    print_message("  %s.%s, %s: want %s, got %s\n", rt->name, f->name, what, ok ? "BG_OK" : "BG_E_VALUE",
                  bg_err_name((int)got));
}

static void nil_is_valid_for_every_field(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    assert_non_null(rt);
    for (uint16_t i = 0; i < rt->n_fields; i++)
      check_value(rt, &rt->fields[i], nil_value(), true, "nil", &checked, &failed);
  }
  finish(checked, failed);
}

static void text_fields_take_up_to_their_limit_in_bytes(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  memset(big_text, 'x', sizeof big_text);
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      if (f->type != BG_FT_TEXT) continue;
      /* A limit that fits one protocol value. */
      assert_true(f->max > 0 && f->max <= (int64_t)BG_VALUE_MAX);
      size_t max = (size_t)f->max;
      check_value(rt, f, str_value(big_text, 0), true, "empty", &checked, &failed);
      check_value(rt, f, str_value(big_text, max), true, "exactly the limit", &checked, &failed);
      check_value(rt, f, str_value(big_text, max + 1), false, "one byte over", &checked, &failed);
      check_value(rt, f, cstr_value("Financi\xc3\xabn"), true, "UTF-8 text", &checked, &failed);
      if (max >= 2) {
        /* The limit counts bytes: max/2 two-byte characters fit, one more byte does not. */
        static char umlauts[BG_VALUE_MAX + 2];
        for (size_t k = 0; k + 1 < sizeof umlauts; k += 2) umlauts[k] = '\xc3', umlauts[k + 1] = '\xab';
        size_t even = max - max % 2;
        check_value(rt, f, str_value(umlauts, even), true, "two-byte characters up to the limit", &checked,
                     &failed);
        check_value(rt, f, str_value(umlauts, even + 2), false, "two-byte characters past the limit", &checked,
                     &failed);
      }
    }
  }
  finish(checked, failed);
}

static void int_fields_take_exactly_their_range(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0, fields = 0;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      if (f->type != BG_FT_INT) continue;
      fields++;
      assert_true(f->min <= f->max);
      assert_true(f->min > INT64_MIN);
      check_value(rt, f, int_value(f->min), true, "minimum", &checked, &failed);
      check_value(rt, f, int_value(f->max), true, "maximum", &checked, &failed);
      check_value(rt, f, int_value(f->min + (f->max - f->min) / 2), true, "middle", &checked, &failed);
      check_value(rt, f, int_value(f->min - 1), false, "one below", &checked, &failed);
      check_value(rt, f, int_value(INT64_MIN), false, "INT64_MIN", &checked, &failed);
      /* A range may reach the top (traject.begeleider: any user id); else the
       * value above it is refused. */
      if (f->max < INT64_MAX) {
        check_value(rt, f, int_value(f->max + 1), false, "one above", &checked, &failed);
        check_value(rt, f, int_value(INT64_MAX), false, "INT64_MAX", &checked, &failed);
      }
    }
  }
  assert_true(fields > 0);
  finish(checked, failed);
}

static void bool_fields_take_only_booleans(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      if (f->type != BG_FT_BOOL) continue;
      check_value(rt, f, bool_value(true), true, "true", &checked, &failed);
      check_value(rt, f, bool_value(false), true, "false", &checked, &failed);
      check_value(rt, f, int_value(0), false, "integer 0", &checked, &failed);
      check_value(rt, f, int_value(1), false, "integer 1", &checked, &failed);
      check_value(rt, f, cstr_value("true"), false, "string \"true\"", &checked, &failed);
    }
  }
  finish(checked, failed);
}

static const struct {
  const char *date;
  bool ok;
} date_cases[] = {
    {"2026-01-01", true},  {"2026-12-31", true},  {"2026-01-31", true},  {"2026-04-30", true},
    {"2023-02-28", true},  {"2024-02-29", true},  {"2000-02-29", true},  {"1999-12-31", true},
    {"2023-02-29", false}, {"1900-02-29", false}, {"2100-02-29", false}, {"2024-02-30", false},
    {"2026-13-01", false}, {"2026-00-10", false}, {"2026-01-00", false}, {"2026-01-32", false},
    {"2026-04-31", false}, {"2026-06-31", false}, {"2026-09-31", false}, {"2026-11-31", false},
    {"2026-1-01", false},  {"2026-01-1", false},  {"26-01-01", false},   {"2026/01/01", false},
    {"20260101", false},   {"2026-01-01T10:00", false}, {"2026-01-01 ", false}, {" 2026-01-01", false},
    {"2026-0a-01", false}, {"+026-01-01", false}, {"2026--1-01", false}, {"01-01-2026", false},
    {"", false},
};

static void date_fields_take_only_real_calendar_dates(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0, fields = 0;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      if (f->type != BG_FT_DATE) continue;
      fields++;
      for (size_t k = 0; k < N_ELEMS(date_cases); k++)
        check_value(rt, f, cstr_value(date_cases[k].date), date_cases[k].ok, date_cases[k].date, &checked,
                     &failed);
      check_value(rt, f, str_value("2026-01-0\0", 10), false, "NUL in the day", &checked, &failed);
      check_value(rt, f, str_value("2026-01-01\0", 11), false, "trailing NUL", &checked, &failed);
    }
  }
  assert_true(fields > 0);
  finish(checked, failed);
}

static const bg_enum_def *const all_enums[] = {
    &bg_enum_aanmeldingsbesluit, &bg_enum_intakebesluit, &bg_enum_evaluatiebesluit,
    &bg_enum_actiestatus,        &bg_enum_rapportagesoort, &bg_enum_actiewie,
    &bg_enum_netwerksoort,       &bg_enum_uitstroomreden, &bg_enum_voorstelstatus,
};

static void enum_fields_take_every_member_and_nothing_else(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      if (f->type != BG_FT_ENUM || f->enm == NULL) continue;
      for (uint8_t k = 0; k < f->enm->n; k++) {
        const char *key = f->enm->values[k];
        size_t len = strlen(key);
        char near[64];
        check_value(rt, f, cstr_value(key), true, key, &checked, &failed);
        check_value(rt, f, str_value(key, len - 1), false, "a member's prefix", &checked, &failed);
        snprintf(near, sizeof near, "%s ", key);
        check_value(rt, f, cstr_value(near), false, "a member with a trailing space", &checked, &failed);
        snprintf(near, sizeof near, "%s", key);
        near[0] = (char)(near[0] - 'a' + 'A');
        check_value(rt, f, cstr_value(near), false, "a member capitalised", &checked, &failed);
        snprintf(near, sizeof near, "%s", key);
        check_value(rt, f, str_value(near, len + 1), false, "a member with a trailing NUL", &checked, &failed);
      }
      check_value(rt, f, cstr_value(""), false, "empty", &checked, &failed);
      check_value(rt, f, cstr_value("onbekend"), false, "unknown", &checked, &failed);
      /* Members of other enumerations that are not members of this one. */
      for (size_t e = 0; e < N_ELEMS(all_enums); e++)
        for (uint8_t k = 0; k < all_enums[e]->n; k++) {
          const char *key = all_enums[e]->values[k];
          if (bg_enum_rank(f->enm, key, strlen(key)) >= 0) continue;
          check_value(rt, f, cstr_value(key), false, key, &checked, &failed);
        }
    }
  }
  finish(checked, failed);
}

static void position_field_takes_only_valid_positions(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  const bg_rtype_def *rt = bg_rtype(BG_RT_TRAJECT);
  const bg_field_def *f = bg_field_by_name(rt, "positie", strlen("positie"));
  assert_non_null(f);
  assert_int_equal(f->type, BG_FT_POS);
  for (uint8_t phase = 0; phase <= 15; phase++)
    for (uint32_t cycle = 0; cycle <= 3; cycle++) {
      char what[64];
      snprintf(what, sizeof what, "phase %u cycle %u", phase, cycle);
      check_value(rt, f, int_value((int64_t)cycle * 16 + phase), domain_position_valid(phase, cycle), what,
                   &checked, &failed);
    }
  check_value(rt, f, int_value(-1), false, "negative", &checked, &failed);
  check_value(rt, f, int_value(((int64_t)UINT32_MAX + 1) * 16 + 4), false, "cycle beyond 32 bits", &checked,
               &failed);
  check_value(rt, f, cstr_value("4"), false, "a string", &checked, &failed);
  finish(checked, failed);
}

/* The value type a field takes, as bg_ftype documents it. */
static bg_vtype vtype_of(uint8_t ftype) {
  switch (ftype) {
    case BG_FT_INT:
    case BG_FT_POS: return BG_V_INT;
    case BG_FT_BOOL: return BG_V_BOOL;
    default: return BG_V_STR;
  }
}

static void wrong_value_type_is_refused_for_every_field(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      /* Contents that would be right if only the type were. */
      const char *text = f->type == BG_FT_DATE                      ? "2026-01-01"
                         : f->type == BG_FT_ENUM && f->enm != NULL ? f->enm->values[0]
                                                                    : "1";
      int64_t number = f->type == BG_FT_INT ? f->min : 1;
      const bg_value candidates[] = {bool_value(true), int_value(number), cstr_value(text), bin_value(text)};
      for (size_t c = 0; c < N_ELEMS(candidates); c++) {
        if (candidates[c].type == vtype_of(f->type)) continue;
        char what[48];
        snprintf(what, sizeof what, "value type %d", (int)candidates[c].type);
        check_value(rt, f, candidates[c], false, what, &checked, &failed);
      }
    }
  }
  finish(checked, failed);
}

/* ---- enumerations ------------------------------------------------------------------------ */

/* The R3 and R4 orders, low to high, exactly as DOMAIN.md gives them. */
static const struct {
  const bg_enum_def *e;
  const char *name;
  const char *values[8];
  size_t n;
} ranked_enums[] = {
    {&bg_enum_actiestatus, "actiestatus", {"open", "bezig", "vervallen", "afgerond"}, 4},
    {&bg_enum_aanmeldingsbesluit,
     "aanmeldingsbesluit",
     {"afwijzing", "doorverwijzing", "intakegesprek", "spoedopname"},
     4},
    {&bg_enum_intakebesluit,
     "intakebesluit",
     {"afwijzing", "doorverwijzing", "wachtlijst", "proefbegeleiding", "voorwaardelijke_toelating",
      "toelating"},
     6},
    {&bg_enum_evaluatiebesluit, "evaluatiebesluit", {"uitstroom", "voortzetten"}, 2},
};

static void decisions_and_statuses_rank_in_the_domain_order(void **state) {
  (void)state;
  for (size_t i = 0; i < N_ELEMS(ranked_enums); i++) {
    const bg_enum_def *e = ranked_enums[i].e;
    assert_string_equal(e->name, ranked_enums[i].name);
    assert_int_equal(e->n, ranked_enums[i].n);
    for (size_t k = 0; k < ranked_enums[i].n; k++) {
      const char *v = ranked_enums[i].values[k];
      assert_string_equal(e->values[k], v);
      assert_int_equal(bg_enum_rank(e, v, strlen(v)), (int)k);
    }
    /* Every lower value ranks strictly below every higher one. */
    for (size_t a = 0; a < ranked_enums[i].n; a++)
      for (size_t b = a + 1; b < ranked_enums[i].n; b++) {
        const char *lo = ranked_enums[i].values[a], *hi = ranked_enums[i].values[b];
        assert_true(bg_enum_rank(e, lo, strlen(lo)) < bg_enum_rank(e, hi, strlen(hi)));
      }
  }
}

static void non_members_have_no_rank(void **state) {
  (void)state;
  assert_int_equal(bg_enum_rank(&bg_enum_actiestatus, "", 0), -1);
  assert_int_equal(bg_enum_rank(&bg_enum_actiestatus, "Open", 4), -1);
  assert_int_equal(bg_enum_rank(&bg_enum_actiestatus, "ope", 3), -1);
  assert_int_equal(bg_enum_rank(&bg_enum_actiestatus, "open\0", 5), -1);
  assert_int_equal(bg_enum_rank(&bg_enum_aanmeldingsbesluit, "toelating", 9), -1);
  assert_int_equal(bg_enum_rank(&bg_enum_intakebesluit, "intakegesprek", 13), -1);
  assert_int_equal(bg_enum_rank(&bg_enum_intakebesluit, "voorwaardelijke toelating", 25), -1);
  assert_int_equal(bg_enum_rank(&bg_enum_evaluatiebesluit, "afgerond", 8), -1);
  /* The length bounds the key: a member followed by more bytes is not a member. */
  assert_int_equal(bg_enum_rank(&bg_enum_evaluatiebesluit, "voortzetten!", 11), 1);
  assert_int_equal(bg_enum_rank(&bg_enum_evaluatiebesluit, "voortzetten!", 12), -1);
}

/* The kinds DOMAIN.md lists without an order: the same set of members. */
static const struct {
  const bg_enum_def *e;
  const char *values[8];
  size_t n;
} listed_enums[] = {
    {&bg_enum_rapportagesoort,
     {"begeleidingsgesprek", "voortgangsgesprek", "evaluatiegesprek", "exitgesprek", "overig"},
     5},
    {&bg_enum_actiewie, {"client", "begeleider", "netwerk"}, 3},
    {&bg_enum_netwerksoort, {"formeel", "informeel"}, 2},
};

static void listed_kinds_are_exactly_the_domain_kinds(void **state) {
  (void)state;
  for (size_t i = 0; i < N_ELEMS(listed_enums); i++) {
    assert_int_equal(listed_enums[i].e->n, listed_enums[i].n);
    for (size_t k = 0; k < listed_enums[i].n; k++) {
      const char *v = listed_enums[i].values[k];
      assert_true(bg_enum_rank(listed_enums[i].e, v, strlen(v)) >= 0);
    }
  }
}

static void every_enumeration_has_unique_members_and_a_unique_name(void **state) {
  (void)state;
  for (size_t e = 0; e < N_ELEMS(all_enums); e++) {
    assert_true(all_enums[e]->n > 0);
    assert_non_null(all_enums[e]->name);
    for (size_t o = e + 1; o < N_ELEMS(all_enums); o++)
      assert_string_not_equal(all_enums[e]->name, all_enums[o]->name);
    for (uint8_t a = 0; a < all_enums[e]->n; a++) {
      assert_true(strlen(all_enums[e]->values[a]) > 0);
      for (uint8_t b = (uint8_t)(a + 1); b < all_enums[e]->n; b++)
        assert_string_not_equal(all_enums[e]->values[a], all_enums[e]->values[b]);
    }
  }
}

/* ---- the schema table ---------------------------------------------------------------------- */

static bool is_identifier(const char *s) {
  if (!(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (const char *p = s; *p != '\0'; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return false;
  return true;
}

static void record_types_are_numbered_one_to_max_and_found_by_name(void **state) {
  (void)state;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    assert_non_null(rt);
    assert_int_equal(rt->id, t);
    assert_non_null(rt->name);
    assert_true(is_identifier(rt->name));
    assert_ptr_equal(bg_rtype_by_name(rt->name, strlen(rt->name)), rt);
    assert_null(bg_rtype_by_name(rt->name, strlen(rt->name) - 1));
    assert_true(rt->n_fields > 0);
    assert_non_null(rt->fields);
    for (uint32_t o = t + 1; o <= BG_RTYPE_MAX; o++) assert_string_not_equal(rt->name, bg_rtype(o)->name);
  }
  assert_null(bg_rtype(0));
  assert_null(bg_rtype(BG_RTYPE_MAX + 1));
  assert_null(bg_rtype(UINT32_MAX));
  assert_null(bg_rtype_by_name("", 0));
  assert_null(bg_rtype_by_name("Client", 6));
  assert_null(bg_rtype_by_name("clientx", 7));
}

static void fields_have_unique_positive_ids_and_names_and_are_found_by_both(void **state) {
  (void)state;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    uint32_t max_id = 0;
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      assert_true(f->id > 0);
      assert_non_null(f->name);
      assert_true(is_identifier(f->name));
      if (f->id > max_id) max_id = f->id;
      for (uint16_t j = (uint16_t)(i + 1); j < rt->n_fields; j++) {
        assert_int_not_equal(f->id, rt->fields[j].id);
        assert_string_not_equal(f->name, rt->fields[j].name);
      }
      assert_ptr_equal(bg_field(rt, f->id), f);
      assert_ptr_equal(bg_field_by_name(rt, f->name, strlen(f->name)), f);
    }
    assert_null(bg_field(rt, 0));
    assert_null(bg_field(rt, max_id + 1));
    assert_null(bg_field_by_name(rt, "", 0));
    assert_null(bg_field_by_name(rt, "onbekend_veld", 13));
  }
}

static bool is_rule(int rule) {
  return rule == BG_RULE_R2 || rule == BG_RULE_R3 || rule == BG_RULE_R4 || rule == BG_RULE_R5 ||
         rule == BG_RULE_ONCE;
}

static void every_field_has_a_known_type_group_and_rule(void **state) {
  (void)state;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      assert_in_range(f->type, BG_FT_TEXT, BG_FT_POS);
      const bg_group_def *g = bg_group(f->group);
      assert_non_null(g);
      assert_int_equal(g->id, f->group);
      assert_true(is_rule(f->rule));
      assert_string_not_equal(bg_rule_name(f->rule), "?");
      /* An enumeration exactly where the value is one. */
      if (f->type == BG_FT_ENUM) {
        assert_non_null(f->enm);
        assert_true(f->enm->n > 0);
      } else {
        assert_null(f->enm);
      }
    }
  }
}

static void groups_are_numbered_and_named_uniquely_and_cover_only_real_phases(void **state) {
  (void)state;
  for (int id = 1; id <= BG_GROUP_MAX; id++) {
    const bg_group_def *g = bg_group(id);
    assert_non_null(g);
    assert_int_equal(g->id, id);
    assert_non_null(g->name);
    assert_true(g->phases != 0);
    assert_int_equal(g->phases >> (BG_PHASE_MAX + 1), 0);
    for (int o = id + 1; o <= BG_GROUP_MAX; o++) assert_string_not_equal(g->name, bg_group(o)->name);
  }
  assert_null(bg_group(0));
  assert_null(bg_group(BG_GROUP_MAX + 1));
  assert_null(bg_group(-1));
}

static void rule_names_are_distinct(void **state) {
  (void)state;
  static const struct {
    int rule;
    const char *name;
  } rules[] = {{BG_RULE_R2, "R2"}, {BG_RULE_R3, "R3"}, {BG_RULE_R4, "R4"}, {BG_RULE_R5, "R5"}, {BG_RULE_ONCE, "once"}};
  for (size_t i = 0; i < N_ELEMS(rules); i++) assert_string_equal(bg_rule_name(rules[i].rule), rules[i].name);
  assert_string_equal(bg_rule_name(0), "?");
  assert_string_equal(bg_rule_name(1), "?");
  assert_string_equal(bg_rule_name(7), "?");
}

/* R3 and R4 take the maximum of an order: they only make sense on enumerations. */
static void ordered_merge_fields_are_enumerations(void **state) {
  (void)state;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      if (f->rule == BG_RULE_R3 || f->rule == BG_RULE_R4) {
        assert_int_equal(f->type, BG_FT_ENUM);
        assert_non_null(f->enm);
      }
    }
  }
}

/* R5 moves the traject position, and nothing else is a position. */
static void traject_position_moves_forward_by_r5(void **state) {
  (void)state;
  const bg_rtype_def *rt = bg_rtype(BG_RT_TRAJECT);
  const bg_field_def *f = bg_field_by_name(rt, "positie", strlen("positie"));
  assert_non_null(f);
  assert_int_equal(f->type, BG_FT_POS);
  assert_int_equal(f->rule, BG_RULE_R5);
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *o = bg_rtype(t);
    for (uint16_t i = 0; i < o->n_fields; i++)
      assert_int_equal(o->fields[i].rule == BG_RULE_R5, o->fields[i].type == BG_FT_POS);
  }
}

/* "rapportage: immutable once written; never conflicts (append-only)". */
static void rapportage_and_only_rapportage_is_written_once(void **state) {
  (void)state;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++)
      assert_int_equal(rt->fields[i].rule == BG_RULE_ONCE, t == BG_RT_RAPPORTAGE);
  }
  const bg_rtype_def *rt = bg_rtype(BG_RT_RAPPORTAGE);
  const bg_field_def *soort = bg_field_by_name(rt, "soort", strlen("soort"));
  assert_non_null(soort);
  assert_ptr_equal(soort->enm, &bg_enum_rapportagesoort);
}

#define PH(p) (1u << (p))
#define PHASES_1_TO_8 (PH(1) | PH(2) | PH(3) | PH(4) | PH(5) | PH(6) | PH(7) | PH(8))
#define ANY_CYCLE -1 /* DOMAIN.md says nothing about the cycle */

/* DOMAIN.md's window table. A row with a field name holds for that field; a row
 * without one for every other field of the record type. */
static const struct {
  const char *rtype;
  const char *field;
  unsigned phases;
  int same_cycle;
  int rule;
} windows[] = {
    {"client", NULL, PHASES_1_TO_8, ANY_CYCLE, BG_RULE_R2},
    {"netwerkcontact", NULL, PHASES_1_TO_8, ANY_CYCLE, BG_RULE_R2},
    {"aanmelding", "besluit", PH(1), ANY_CYCLE, BG_RULE_R4},
    {"aanmelding", NULL, PH(1), ANY_CYCLE, BG_RULE_R2},
    {"intake", "besluit", PH(2), ANY_CYCLE, BG_RULE_R4},
    {"intake", NULL, PH(2), ANY_CYCLE, BG_RULE_R2},
    {"opstart", NULL, PH(3), ANY_CYCLE, BG_RULE_R2},
    {"persoonsbeschrijving", NULL, PH(4), true, BG_RULE_R2},
    {"begeleidingsplan", NULL, PH(5), true, BG_RULE_R2},
    {"doel", NULL, PH(5), true, BG_RULE_R2},
    {"actie", "status", PH(6) | PH(7), ANY_CYCLE, BG_RULE_R3},
    {"actie", "voortgang", PH(6) | PH(7), ANY_CYCLE, BG_RULE_R2},
    {"actie", NULL, PH(5), true, BG_RULE_R2},
    {"evaluatie", "besluit", PH(7), ANY_CYCLE, BG_RULE_R4},
    {"evaluatie", NULL, PH(7), ANY_CYCLE, BG_RULE_R2},
    {"uitstroom", NULL, PH(8), ANY_CYCLE, BG_RULE_R2},
    {"rapportage", NULL, PHASES_1_TO_8, ANY_CYCLE, BG_RULE_ONCE},
};

static void field_windows_and_rules_follow_the_domain_table(void **state) {
  (void)state;
  unsigned checked = 0, failed = 0;
  /* Named fields exist. */
  for (size_t w = 0; w < N_ELEMS(windows); w++) {
    const bg_rtype_def *rt = bg_rtype_by_name(windows[w].rtype, strlen(windows[w].rtype));
    assert_non_null(rt);
    if (windows[w].field != NULL) assert_non_null(bg_field_by_name(rt, windows[w].field, strlen(windows[w].field)));
  }
  for (size_t w = 0; w < N_ELEMS(windows); w++) {
    if (windows[w].field != NULL) continue;
    const bg_rtype_def *rt = bg_rtype_by_name(windows[w].rtype, strlen(windows[w].rtype));
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      const bg_field_def *f = &rt->fields[i];
      size_t row = w;
      for (size_t s = 0; s < N_ELEMS(windows); s++)
        if (windows[s].field != NULL && strcmp(windows[s].rtype, rt->name) == 0 &&
            strcmp(windows[s].field, f->name) == 0)
          row = s;
      const bg_group_def *g = bg_group(f->group);
      assert_non_null(g);
      checked++;
      bool ok = g->phases == windows[row].phases && f->rule == windows[row].rule &&
                (windows[row].same_cycle == ANY_CYCLE || g->same_cycle == (windows[row].same_cycle != 0)) &&
                !g->admin_only;
      if (!ok && ++failed <= MAX_REPORTED)
        print_message("  %s.%s: group %s phases 0x%x same_cycle %d rule %s; want phases 0x%x rule %s\n", rt->name,
                      f->name, g->name, g->phases, (int)g->same_cycle, bg_rule_name(f->rule), windows[row].phases,
                      bg_rule_name(windows[row].rule));
    }
  }
  finish(checked, failed);
}

/* A closed traject takes no more edits of its records. */
static void no_domain_field_is_editable_once_closed(void **state) {
  (void)state;
  for (size_t w = 0; w < N_ELEMS(windows); w++) {
    const bg_rtype_def *rt = bg_rtype_by_name(windows[w].rtype, strlen(windows[w].rtype));
    for (uint16_t i = 0; i < rt->n_fields; i++)
      assert_int_equal(bg_group(rt->fields[i].group)->phases & PH(BG_PH_GESLOTEN), 0);
  }
}

/* The records DOMAIN.md names, with the identity bg_schema.h gives them. */
static const struct {
  int id;
  const char *name;
  int keying;
  const char *key;
  bool org;
} domain_rtypes[] = {
    {BG_RT_CLIENT, "client", BG_KEY_SINGLETON, "c", false},
    {BG_RT_TRAJECT, "traject", BG_KEY_SINGLETON, "t", false},
    {BG_RT_AANMELDING, "aanmelding", BG_KEY_SINGLETON, "a", false},
    {BG_RT_INTAKE, "intake", BG_KEY_SINGLETON, "i", false},
    {BG_RT_OPSTART, "opstart", BG_KEY_SINGLETON, "o", false},
    {BG_RT_PB, "persoonsbeschrijving", BG_KEY_CYCLE_LG, NULL, false},
    {BG_RT_PLAN, "begeleidingsplan", BG_KEY_CYCLE, NULL, false},
    {BG_RT_DOEL, "doel", BG_KEY_CYCLE_DOT, NULL, false},
    {BG_RT_ACTIE, "actie", BG_KEY_CYCLE_DOT, NULL, false},
    {BG_RT_NETWERK, "netwerkcontact", BG_KEY_DOT, NULL, false},
    {BG_RT_RAPPORTAGE, "rapportage", BG_KEY_DOT, NULL, false},
    {BG_RT_EVALUATIE, "evaluatie", BG_KEY_CYCLE, NULL, false},
    {BG_RT_UITSTROOM, "uitstroom", BG_KEY_SINGLETON, "u", false},
    {BG_RT_LEEFGEBIED, "leefgebied", BG_KEY_NAME, NULL, true},
    {BG_RT_VOORSTEL, "wijzigingsvoorstel", BG_KEY_DOT, NULL, false},
};

static void domain_records_exist_with_their_identity(void **state) {
  (void)state;
  assert_int_equal(N_ELEMS(domain_rtypes), BG_RTYPE_MAX);
  for (size_t i = 0; i < N_ELEMS(domain_rtypes); i++) {
    const bg_rtype_def *rt = bg_rtype_by_name(domain_rtypes[i].name, strlen(domain_rtypes[i].name));
    assert_non_null(rt);
    assert_int_equal(rt->id, domain_rtypes[i].id);
    assert_int_equal(rt->keying, domain_rtypes[i].keying);
    assert_int_equal(rt->org, domain_rtypes[i].org);
    if (domain_rtypes[i].key != NULL)
      assert_string_equal(rt->key, domain_rtypes[i].key);
    else
      assert_null(rt->key);
  }
}

/* Administrators only write organisation data and who leads a traject
 * (traject.begeleider), and nothing else is theirs alone. */
static void organisation_records_and_the_trajectbegeleider_and_only_they_are_admin_only(void **state) {
  (void)state;
  for (uint32_t t = 1; t <= BG_RTYPE_MAX; t++) {
    const bg_rtype_def *rt = bg_rtype(t);
    for (uint16_t i = 0; i < rt->n_fields; i++) {
      bool assign = t == BG_RT_TRAJECT && strcmp(rt->fields[i].name, "begeleider") == 0;
      assert_int_equal(bg_group(rt->fields[i].group)->admin_only, rt->org || assign);
    }
  }
}

/* Schema 2: traject.begeleider, the user id of the trajectbegeleider, so that a
 * device learns its R2 standing from the data; the office sets it whatever the
 * phase, before the first position and after closing too. */
static void traject_names_its_trajectbegeleider_in_an_admin_group_open_in_every_phase(void **state) {
  (void)state;
  assert_int_equal(BG_SCHEMA_VERSION, 2);
  const bg_rtype_def *rt = bg_rtype(BG_RT_TRAJECT);
  const bg_field_def *f = bg_field_by_name(rt, "begeleider", strlen("begeleider"));
  assert_non_null(f);
  assert_ptr_equal(bg_field(rt, 2), f);
  assert_int_equal(f->type, BG_FT_INT);
  assert_int_equal(f->rule, BG_RULE_R2);
  assert_int_equal(f->group, BG_G_ASSIGN);
  assert_true(f->min == 1 && f->max == INT64_MAX);
  const bg_group_def *g = bg_group(BG_G_ASSIGN);
  assert_string_equal(g->name, "toewijzing");
  assert_true(g->admin_only);
  assert_false(g->same_cycle);
  for (int p = BG_PH_NONE; p <= BG_PHASE_MAX; p++) assert_true(g->phases & PH(p));
  assert_int_equal(BG_GROUP_MAX, BG_G_ASSIGN);
  bg_value zero = int_value(0);
  assert_int_equal(bg_value_check(f, &zero), BG_E_VALUE);
}

/* "Removing a doel or actie during planning is a tombstone." */
static void doel_and_actie_are_removed_by_a_tombstone_in_planning(void **state) {
  (void)state;
  static const int removable[] = {BG_RT_DOEL, BG_RT_ACTIE};
  for (size_t i = 0; i < N_ELEMS(removable); i++) {
    const bg_rtype_def *rt = bg_rtype((uint32_t)removable[i]);
    const bg_field_def *f = bg_field_by_name(rt, BG_FIELD_DELETED_NAME, strlen(BG_FIELD_DELETED_NAME));
    assert_non_null(f);
    assert_int_equal(f->type, BG_FT_BOOL);
    assert_int_equal(bg_group(f->group)->phases, PH(BG_PH_PLANNING));
  }
}

/* The seven leefgebieden of the method, in DOMAIN.md's order. */
static void default_leefgebieden_are_the_seven_of_the_method(void **state) {
  (void)state;
  static const struct {
    const char *key;
    const char *naam; /* DOMAIN.md's spelling; the display name may capitalise it */
  } seven[] = {
      {"zingeving", "zingeving"},
      {"wonen", "wonen"},
      {"financien", "financi\xc3\xabn"},
      {"sociale_relaties", "sociale relaties"},
      {"lichamelijke_gezondheid", "lichamelijke gezondheid"},
      {"psychische_gezondheid", "psychische gezondheid"},
      {"werk_en_activiteiten", "werk en activiteiten"},
  };
  assert_int_equal(bg_n_default_leefgebieden, N_ELEMS(seven));
  unsigned failed = 0;
  for (size_t i = 0; i < N_ELEMS(seven); i++) {
    const bg_leefgebied_def *lg = &bg_default_leefgebieden[i];
    assert_string_equal(lg->key, seven[i].key);
    assert_non_null(lg->naam);
    assert_true(bg_utf8_valid(lg->naam, strlen(lg->naam)));
    char naam[64];
    snprintf(naam, sizeof naam, "%s", lg->naam);
    if (naam[0] >= 'A' && naam[0] <= 'Z') naam[0] = (char)(naam[0] - 'A' + 'a');
    assert_string_equal(naam, seven[i].naam);
    /* Usable as a leefgebied record id and in a persoonsbeschrijving id. */
    char pb[80];
    snprintf(pb, sizeof pb, "1/%s", lg->key);
    check_rid(BG_RT_LEEFGEBIED, bg_str_c(lg->key), true, 0, &failed);
    check_rid(BG_RT_PB, bg_str_c(pb), true, 1, &failed);
  }
  finish((unsigned)N_ELEMS(seven) * 2, failed);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      /* the phase machine */
      cmocka_unit_test(phase_check_agrees_with_domain_for_every_pair_of_valid_positions),
      cmocka_unit_test(phase_check_refuses_every_move_from_or_to_an_invalid_position),
      cmocka_unit_test(named_forbidden_moves_are_refused_whatever_the_decisions),
      cmocka_unit_test(allowed_move_is_refused_without_its_decision),
      cmocka_unit_test(allowed_move_is_refused_with_each_wrong_decision_value),
      cmocka_unit_test(allowed_move_is_allowed_with_each_right_decision_value),
      cmocka_unit_test(refusal_names_current_and_requested_phase),
      cmocka_unit_test(refusal_for_a_missing_decision_names_what_is_missing),
      cmocka_unit_test(refusal_text_stays_within_its_buffer),
      cmocka_unit_test(traject_is_created_only_from_no_position_into_aanmelding),
      cmocka_unit_test(without_decisions_only_the_structure_is_checked),
      cmocka_unit_test(phases_carry_the_domain_names),
      /* positions */
      cmocka_unit_test(position_encodes_as_cycle_times_16_plus_phase_and_round_trips),
      cmocka_unit_test(invalid_positions_do_not_decode),
      cmocka_unit_test(closed_is_a_position_in_any_cycle),
      /* record ids */
      cmocka_unit_test(record_ids_follow_their_types_keying_and_report_the_cycle),
      cmocka_unit_test(singleton_record_has_exactly_its_one_id),
      /* values */
      cmocka_unit_test(nil_is_valid_for_every_field),
      cmocka_unit_test(text_fields_take_up_to_their_limit_in_bytes),
      cmocka_unit_test(int_fields_take_exactly_their_range),
      cmocka_unit_test(bool_fields_take_only_booleans),
      cmocka_unit_test(date_fields_take_only_real_calendar_dates),
      cmocka_unit_test(enum_fields_take_every_member_and_nothing_else),
      cmocka_unit_test(position_field_takes_only_valid_positions),
      cmocka_unit_test(wrong_value_type_is_refused_for_every_field),
      /* enumerations */
      cmocka_unit_test(decisions_and_statuses_rank_in_the_domain_order),
      cmocka_unit_test(non_members_have_no_rank),
      cmocka_unit_test(listed_kinds_are_exactly_the_domain_kinds),
      cmocka_unit_test(every_enumeration_has_unique_members_and_a_unique_name),
      /* the schema table */
      cmocka_unit_test(record_types_are_numbered_one_to_max_and_found_by_name),
      cmocka_unit_test(fields_have_unique_positive_ids_and_names_and_are_found_by_both),
      cmocka_unit_test(every_field_has_a_known_type_group_and_rule),
      cmocka_unit_test(groups_are_numbered_and_named_uniquely_and_cover_only_real_phases),
      cmocka_unit_test(rule_names_are_distinct),
      cmocka_unit_test(ordered_merge_fields_are_enumerations),
      cmocka_unit_test(traject_position_moves_forward_by_r5),
      cmocka_unit_test(rapportage_and_only_rapportage_is_written_once),
      cmocka_unit_test(field_windows_and_rules_follow_the_domain_table),
      cmocka_unit_test(no_domain_field_is_editable_once_closed),
      cmocka_unit_test(domain_records_exist_with_their_identity),
      cmocka_unit_test(organisation_records_and_the_trajectbegeleider_and_only_they_are_admin_only),
      cmocka_unit_test(traject_names_its_trajectbegeleider_in_an_admin_group_open_in_every_phase),
      cmocka_unit_test(doel_and_actie_are_removed_by_a_tombstone_in_planning),
      cmocka_unit_test(default_leefgebieden_are_the_seven_of_the_method),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
