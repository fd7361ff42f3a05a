//! Propositional formulas over opaque atoms, and a satisfiability search with witnesses.
//!
//! The compliance checker abstracts a rule's condition into a formula whose atoms are the
//! non-Boolean facts it tests (`consent(to, marketing, channel)`, `to.messages_7d >= 3`). An
//! implication that holds for every assignment of the atoms holds for every input, so "no
//! assignment makes `allow ∧ ¬consent` true" proves the property; an assignment that does is a
//! witness the diagnostic shows. Formulas of policies are small (tens of atoms), so a DPLL-style
//! search with three-valued evaluation is enough and keeps the build free of a solver crate.

/// A propositional formula.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Formula {
    /// Always true.
    True,
    /// Always false.
    False,
    /// An opaque fact, by index into an atom table.
    Atom(u32),
    /// Negation.
    Not(Box<Formula>),
    /// Conjunction (true when empty).
    And(Vec<Formula>),
    /// Disjunction (false when empty).
    Or(Vec<Formula>),
}

impl Formula {
    /// `¬f`, simplified.
    pub fn negate(f: Formula) -> Formula {
        match f {
            Formula::True => Formula::False,
            Formula::False => Formula::True,
            Formula::Not(inner) => *inner,
            f => Formula::Not(Box::new(f)),
        }
    }

    /// `a ∧ b ∧ …`, simplified.
    pub fn and(parts: impl IntoIterator<Item = Formula>) -> Formula {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Formula::True => {}
                Formula::False => return Formula::False,
                Formula::And(xs) => out.extend(xs),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => Formula::True,
            1 => out.remove(0),
            _ => Formula::And(out),
        }
    }

    /// `a ∨ b ∨ …`, simplified.
    pub fn or(parts: impl IntoIterator<Item = Formula>) -> Formula {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Formula::False => {}
                Formula::True => return Formula::True,
                Formula::Or(xs) => out.extend(xs),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => Formula::False,
            1 => out.remove(0),
            _ => Formula::Or(out),
        }
    }

    /// Three-valued evaluation under a partial assignment: `None` when undetermined.
    fn eval(&self, assignment: &[Option<bool>]) -> Option<bool> {
        match self {
            Formula::True => Some(true),
            Formula::False => Some(false),
            Formula::Atom(a) => assignment.get(*a as usize).copied().flatten(),
            Formula::Not(f) => f.eval(assignment).map(|b| !b),
            Formula::And(xs) => {
                let mut unknown = false;
                for x in xs {
                    match x.eval(assignment) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                if unknown { None } else { Some(true) }
            }
            Formula::Or(xs) => {
                let mut unknown = false;
                for x in xs {
                    match x.eval(assignment) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                if unknown { None } else { Some(false) }
            }
        }
    }

    /// The atoms the formula mentions, sorted.
    pub fn atom_set(&self) -> Vec<u32> {
        let mut out = Vec::new();
        self.occurrences(&mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether no atom occurs twice (such a formula is satisfiable unless it is `False`).
    pub fn atoms_are_distinct(&self) -> bool {
        let mut all = Vec::new();
        self.occurrences(&mut all);
        all.sort_unstable();
        all.windows(2).all(|w| w[0] != w[1])
    }

    /// Every occurrence of an atom, in order, repeats included.
    fn occurrences(&self, out: &mut Vec<u32>) {
        match self {
            Formula::Atom(a) => out.push(*a),
            Formula::Not(f) => f.occurrences(out),
            Formula::And(xs) | Formula::Or(xs) => xs.iter().for_each(|x| x.occurrences(out)),
            Formula::True | Formula::False => {}
        }
    }

    /// The distinct atoms in order of first occurrence, stopping once there are more than
    /// `limit` (a question that large is not searched, so counting further is wasted; a
    /// policy of 1,000 rules made the full, quadratic collection a tenth of checking).
    fn atoms_upto(&self, limit: usize, out: &mut Vec<u32>) {
        if out.len() > limit {
            return;
        }
        match self {
            Formula::Atom(a) => {
                if !out.contains(a) {
                    out.push(*a);
                }
            }
            Formula::Not(f) => f.atoms_upto(limit, out),
            Formula::And(xs) | Formula::Or(xs) => xs.iter().for_each(|x| x.atoms_upto(limit, out)),
            Formula::True | Formula::False => {}
        }
    }

    /// The first atom the formula mentions.
    fn first_atom(&self) -> Option<u32> {
        match self {
            Formula::Atom(a) => Some(*a),
            Formula::Not(f) => f.first_atom(),
            Formula::And(xs) | Formula::Or(xs) => xs.iter().find_map(Formula::first_atom),
            Formula::True | Formula::False => None,
        }
    }
}

/// The most atoms one question may involve; beyond it the checker reports that it cannot
/// decide instead of searching for long.
pub const MAX_ATOMS: usize = 22;

/// The answer to "can `f` be true?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sat {
    /// No assignment makes it true.
    Unsat,
    /// This assignment (atom index → value, for the atoms `f` mentions) makes it true.
    Sat(Vec<(u32, bool)>),
    /// Too many atoms to decide.
    TooLarge,
}

/// Searches for an assignment of the atoms that makes `f` true.
pub fn satisfiable(f: &Formula) -> Sat {
    let mut atoms = Vec::new();
    f.atoms_upto(MAX_ATOMS, &mut atoms);
    if atoms.len() > MAX_ATOMS {
        return Sat::TooLarge;
    }
    let size = atoms.iter().max().map_or(0, |m| *m as usize + 1);
    let mut assignment = vec![None; size];
    if search(f, &mut assignment) {
        // Keep only the atoms the example needs: unassign each one that `f` does not depend
        // on under the others, so the diagnostic names the facts that matter.
        for a in &atoms {
            let saved = assignment[*a as usize].take();
            if f.eval(&assignment) != Some(true) {
                assignment[*a as usize] = saved;
            }
        }
        Sat::Sat(
            atoms
                .iter()
                .filter_map(|a| assignment[*a as usize].map(|v| (*a, v)))
                .collect(),
        )
    } else {
        Sat::Unsat
    }
}

/// DPLL on the formula tree: simplify under the assignment so far, force the atoms that
/// stand alone in a top-level conjunction (unit propagation), and branch only on an atom the
/// simplified formula still mentions.
fn search(f: &Formula, assignment: &mut [Option<bool>]) -> bool {
    let f = simplify(f, assignment);
    match f {
        Formula::True => return true,
        Formula::False => return false,
        _ => {}
    }
    if let Formula::And(xs) = &f {
        let units: Vec<(u32, bool)> = xs
            .iter()
            .filter_map(|x| match x {
                Formula::Atom(a) => Some((*a, true)),
                Formula::Not(inner) => match &**inner {
                    Formula::Atom(a) => Some((*a, false)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        if !units.is_empty() {
            for &(a, v) in &units {
                match assignment[a as usize] {
                    Some(old) if old != v => {
                        for &(b, _) in &units {
                            assignment[b as usize] = None;
                        }
                        return false;
                    }
                    _ => assignment[a as usize] = Some(v),
                }
            }
            if search(&f, assignment) {
                return true;
            }
            for &(a, _) in &units {
                assignment[a as usize] = None;
            }
            return false;
        }
    }
    let Some(a) = f.first_atom() else {
        return false;
    };
    for value in [true, false] {
        assignment[a as usize] = Some(value);
        if search(&f, assignment) {
            return true;
        }
    }
    assignment[a as usize] = None;
    false
}

/// `f` with the assigned atoms replaced by their values, constants folded.
fn simplify(f: &Formula, assignment: &[Option<bool>]) -> Formula {
    match f {
        Formula::True | Formula::False => f.clone(),
        Formula::Atom(a) => match assignment.get(*a as usize).copied().flatten() {
            Some(true) => Formula::True,
            Some(false) => Formula::False,
            None => f.clone(),
        },
        Formula::Not(x) => Formula::negate(simplify(x, assignment)),
        Formula::And(xs) => Formula::and(xs.iter().map(|x| simplify(x, assignment))),
        Formula::Or(xs) => Formula::or(xs.iter().map(|x| simplify(x, assignment))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn atom(i: u32) -> Formula {
        Formula::Atom(i)
    }

    #[test]
    fn contradiction_is_unsat() {
        let f = Formula::and([atom(0), Formula::negate(atom(0))]);
        assert_eq!(satisfiable(&f), Sat::Unsat);
    }

    #[test]
    fn witness_satisfies() {
        // (a ∨ b) ∧ ¬a: only b = true, a = false.
        let f = Formula::and([Formula::or([atom(0), atom(1)]), Formula::negate(atom(0))]);
        match satisfiable(&f) {
            Sat::Sat(w) => {
                assert!(w.contains(&(0, false)));
                assert!(w.contains(&(1, true)));
            }
            other => panic!("expected a witness, got {other:?}"),
        }
    }

    #[test]
    fn implication_by_refutation() {
        // (a ∧ b) → a is valid: (a ∧ b) ∧ ¬a is unsatisfiable; a → (a ∧ b) is not.
        let ab = Formula::and([atom(0), atom(1)]);
        assert_eq!(
            satisfiable(&Formula::and([ab.clone(), Formula::negate(atom(0))])),
            Sat::Unsat
        );
        assert!(matches!(
            satisfiable(&Formula::and([atom(0), Formula::negate(ab)])),
            Sat::Sat(_)
        ));
    }

    /// Formulas over at most six atoms, nested a few levels.
    fn formula() -> impl Strategy<Value = Formula> {
        let leaf = prop_oneof![
            Just(Formula::True),
            Just(Formula::False),
            (0u32..6).prop_map(Formula::Atom),
        ];
        leaf.prop_recursive(4, 40, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|f| Formula::Not(Box::new(f))),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Formula::And),
                prop::collection::vec(inner, 0..4).prop_map(Formula::Or),
            ]
        })
    }

    /// Whether `f` is true under the total assignment `bits` (bit `i`: atom `i`).
    fn truth(f: &Formula, bits: u32) -> bool {
        match f {
            Formula::True => true,
            Formula::False => false,
            Formula::Atom(a) => bits >> a & 1 == 1,
            Formula::Not(g) => !truth(g, bits),
            Formula::And(xs) => xs.iter().all(|x| truth(x, bits)),
            Formula::Or(xs) => xs.iter().any(|x| truth(x, bits)),
        }
    }

    proptest! {
        /// The search agrees with the truth table, and every witness makes the formula true
        /// whatever the atoms it leaves out are.
        #[test]
        fn search_agrees_with_the_truth_table(f in formula()) {
            let models: Vec<u32> = (0..64u32).filter(|&b| truth(&f, b)).collect();
            match satisfiable(&f) {
                Sat::Unsat => prop_assert!(models.is_empty(), "{f:?} is true under {:#b}", models[0]),
                Sat::Sat(w) => {
                    for bits in 0..64u32 {
                        let agrees = w.iter().all(|&(a, v)| (bits >> a & 1 == 1) == v);
                        prop_assert!(!agrees || truth(&f, bits), "{f:?}: {w:?} misses {bits:#b}");
                    }
                }
                Sat::TooLarge => prop_assert!(false, "six atoms are not too many"),
            }
        }

        /// A formula's atoms are distinct when no atom occurs twice; such a formula, built by
        /// the constructors as the checks build theirs (the shortcut C0101 takes), is then
        /// satisfiable unless it is `False`.
        #[test]
        fn distinct_atoms_are_counted_and_satisfiable(f in formula()) {
            fn built(f: &Formula) -> Formula {
                match f {
                    Formula::Not(g) => Formula::negate(built(g)),
                    Formula::And(xs) => Formula::and(xs.iter().map(built)),
                    Formula::Or(xs) => Formula::or(xs.iter().map(built)),
                    other => other.clone(),
                }
            }
            let f = built(&f);
            let mut all = Vec::new();
            f.occurrences(&mut all);
            let distinct = f.atom_set().len() == all.len();
            prop_assert_eq!(f.atoms_are_distinct(), distinct, "{:?}", f);
            if distinct && f != Formula::False {
                prop_assert!(matches!(satisfiable(&f), Sat::Sat(_)), "{:?}", f);
            }
        }
    }

    #[test]
    fn too_many_atoms_is_not_decided() {
        let f = Formula::and((0..=MAX_ATOMS as u32).map(atom));
        assert_eq!(satisfiable(&f), Sat::TooLarge);
    }
}
