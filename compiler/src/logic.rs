//! Propositional formulas over opaque atoms, and a satisfiability search with witnesses.
//!
//! The compliance checker abstracts a rule's condition into a formula whose atoms are the
//! non-Boolean facts it tests (`consent(to, marketing, channel)`, `to.messages_7d >= 3`). An
//! implication that holds for every assignment of the atoms holds for every input, so "no
//! assignment makes `allow ∧ ¬consent` true" proves the property; an assignment that does is a
//! witness the diagnostic shows. Formulas of policies are small (tens of atoms), so a DPLL-style
//! search with three-valued evaluation is enough and keeps the build free of a solver crate.

use rustc_hash::FxHashMap;

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

    /// The distinct atoms in order of first occurrence, all of them (one pass, with a table of
    /// those seen, where [`Formula::atoms_upto`] searches its list).
    fn atoms_in_order(&self) -> Vec<u32> {
        let mut all = Vec::new();
        self.occurrences(&mut all);
        let size = all.iter().max().map_or(0, |m| *m as usize + 1);
        let mut seen = vec![false; size];
        all.retain(|a| !std::mem::replace(&mut seen[*a as usize], true));
        all
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
///
/// A formula of more than [`MAX_ATOMS`] atoms is first reduced by unit propagation: the
/// literals it forces (a guard `deny … unless consent(…)` makes `consent(…)` true on every
/// path to allow, a `deny … when x` makes `x` false) hold in every model, so they are fixed
/// before the atoms left are counted; only when more than [`MAX_ATOMS`] remain is the answer
/// [`Sat::TooLarge`].
pub fn satisfiable(f: &Formula) -> Sat {
    let mut atoms = Vec::new();
    f.atoms_upto(MAX_ATOMS, &mut atoms);
    if atoms.len() <= MAX_ATOMS {
        let size = atoms.iter().max().map_or(0, |m| *m as usize + 1);
        let mut assignment = vec![None; size];
        if !search(f, &mut assignment) {
            return Sat::Unsat;
        }
        return witness(f, &atoms, &[], &mut assignment);
    }
    // Too many to search as it stands (the small case above is unchanged, examples included).
    let atoms = f.atoms_in_order();
    let size = atoms.iter().max().map_or(0, |m| *m as usize + 1);
    let mut assignment = vec![None; size];
    let Some(rest) = propagate(f, &mut assignment) else {
        return Sat::Unsat;
    };
    let mut left = Vec::new();
    rest.atoms_upto(MAX_ATOMS, &mut left);
    if left.len() > MAX_ATOMS {
        return Sat::TooLarge;
    }
    // The forced atoms are in every model, hence in every example: only the others are tried
    // out of it.
    let forced: Vec<u32> = atoms
        .iter()
        .copied()
        .filter(|a| assignment[*a as usize].is_some())
        .collect();
    if !search(&rest, &mut assignment) {
        return Sat::Unsat;
    }
    witness(f, &atoms, &forced, &mut assignment)
}

/// The example of a satisfying `assignment` of `f`, reduced to the atoms it needs: each atom
/// but the `forced` ones is unassigned when `f` does not depend on it under the others, so the
/// diagnostic names the facts that matter. Atoms in `atoms` order (first occurrence in `f`).
fn witness(f: &Formula, atoms: &[u32], forced: &[u32], assignment: &mut [Option<bool>]) -> Sat {
    // A table, not a search of `forced` per atom: a policy of thousands of denies forces
    // thousands of atoms, and the search made its examples quadratic.
    let mut is_forced = vec![
        false;
        if forced.is_empty() {
            0
        } else {
            assignment.len()
        }
    ];
    for a in forced {
        is_forced[*a as usize] = true;
    }
    for a in atoms {
        if is_forced.get(*a as usize).copied().unwrap_or(false) {
            continue;
        }
        let saved = assignment[*a as usize].take();
        if f.eval(assignment) != Some(true) {
            assignment[*a as usize] = saved;
        }
    }
    Sat::Sat(
        atoms
            .iter()
            .filter_map(|a| assignment[*a as usize].map(|v| (*a, v)))
            .collect(),
    )
}

/// Unit propagation to a fixpoint: assigns every literal `f` forces at its top level (see
/// [`forced`]) and simplifies, until none is left. Returns what remains to decide, or `None`
/// when the forced literals contradict each other (no assignment makes `f` true). Sound
/// because a forced literal holds in every model of `f`.
fn propagate(f: &Formula, assignment: &mut [Option<bool>]) -> Option<Formula> {
    let mut f = f.clone();
    loop {
        match f {
            Formula::False => return None,
            Formula::True => return Some(f),
            _ => {}
        }
        let mut units = Vec::new();
        forced(&f, true, &mut units);
        if units.is_empty() {
            return Some(f);
        }
        for (a, v) in units {
            match assignment[a as usize] {
                Some(old) if old != v => return None,
                _ => assignment[a as usize] = Some(v),
            }
        }
        f = simplify(&f, assignment);
    }
}

/// The literals that `f` having value `value` forces: an atom itself, through negations, the
/// members of a true conjunction and of a false disjunction (so `¬(d₁ ∨ d₂)`, no deny
/// applying, forces each `¬dᵢ`).
fn forced(f: &Formula, value: bool, out: &mut Vec<(u32, bool)>) {
    match (f, value) {
        (Formula::Atom(a), v) => out.push((*a, v)),
        (Formula::Not(x), v) => forced(x, !v, out),
        (Formula::And(xs), true) | (Formula::Or(xs), false) => {
            xs.iter().for_each(|x| forced(x, value, out))
        }
        _ => {}
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

/// What [`satisfiable`] answers, without the example: see [`Conjunction::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// No assignment makes the question true.
    Unsat,
    /// Some assignment does.
    Sat,
    /// Too many atoms to decide.
    TooLarge,
}

/// A conjunction of many formulas (`¬d₁ ∧ … ∧ ¬dₙ`: no deny of an action applying) asked about
/// again and again with a few more conjoined (each allow's condition), prepared once so that
/// each question costs what its own formulas touch rather than the whole conjunction.
///
/// Unit propagation (`propagate`) runs over the pieces once; what it leaves is split into
/// components that share no atom. A question propagates its own formulas from there, and only
/// the components they share an atom with (or that the literals they force reach) are looked
/// at again: the others are satisfiable or not on their own, and their atoms count as they
/// are. The answer is [`satisfiable`]'s for the whole conjunction, `Sat` and `Unsat` being
/// plain satisfiability and `TooLarge` meaning "not contradicted by unit propagation, and more
/// than [`MAX_ATOMS`] atoms left after it", as there.
#[derive(Debug)]
pub struct Conjunction {
    /// The literals unit propagation forces, `None` when they contradict each other.
    fixed: Option<FxHashMap<u32, bool>>,
    /// The pieces left after propagation (simplified; neither `True` nor `False`).
    rest: Vec<Formula>,
    /// The pieces of `rest` that mention each atom.
    by_atom: FxHashMap<u32, Vec<u32>>,
    /// The component of each piece of `rest`.
    component_of: Vec<u32>,
    /// The components: pieces sharing atoms, transitively.
    components: Vec<Component>,
    /// The atoms `rest` mentions, all components together.
    atoms: usize,
}

/// Pieces of a [`Conjunction`] left after propagation that share atoms.
#[derive(Debug)]
struct Component {
    /// Indices into `rest`.
    pieces: Vec<u32>,
    /// How many atoms they mention.
    atoms: usize,
    /// Whether their conjunction is satisfiable, once asked (only when it has few atoms).
    sat: std::cell::Cell<Option<bool>>,
}

impl Conjunction {
    /// The conjunction of `pieces`, propagated and split.
    pub fn new(pieces: impl IntoIterator<Item = Formula>) -> Self {
        let mut pieces: Vec<Formula> = pieces.into_iter().filter(|p| *p != Formula::True).collect();
        let mut by_atom: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for (i, p) in pieces.iter().enumerate() {
            for a in p.atom_set() {
                by_atom.entry(a).or_default().push(i as u32);
            }
        }
        let mut fixed: FxHashMap<u32, bool> = FxHashMap::default();
        let mut dirty: Vec<u32> = (0..pieces.len() as u32).rev().collect();
        let mut units = Vec::new();
        let mut contradiction = false;
        'closing: while let Some(i) = dirty.pop() {
            let s = simplify_by(&pieces[i as usize], &|a| fixed.get(&a).copied());
            if s == Formula::False {
                contradiction = true;
                break;
            }
            units.clear();
            forced(&s, true, &mut units);
            pieces[i as usize] = s;
            for &(a, v) in &units {
                match fixed.get(&a) {
                    Some(&old) if old != v => {
                        contradiction = true;
                        break 'closing;
                    }
                    Some(_) => {}
                    None => {
                        fixed.insert(a, v);
                        dirty.extend(by_atom.get(&a).into_iter().flatten());
                    }
                }
            }
        }
        if contradiction {
            return Conjunction {
                fixed: None,
                rest: Vec::new(),
                by_atom: FxHashMap::default(),
                component_of: Vec::new(),
                components: Vec::new(),
                atoms: 0,
            };
        }
        let rest: Vec<Formula> = pieces.into_iter().filter(|p| *p != Formula::True).collect();
        // Components by union-find over the atoms the pieces share.
        let mut parent: Vec<u32> = (0..rest.len() as u32).collect();
        fn root(parent: &mut [u32], mut i: u32) -> u32 {
            while parent[i as usize] != i {
                parent[i as usize] = parent[parent[i as usize] as usize];
                i = parent[i as usize];
            }
            i
        }
        let mut by_atom: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for (i, p) in rest.iter().enumerate() {
            for a in p.atom_set() {
                let list = by_atom.entry(a).or_default();
                if let Some(&first) = list.first() {
                    let (x, y) = (root(&mut parent, first), root(&mut parent, i as u32));
                    parent[x as usize] = y;
                }
                list.push(i as u32);
            }
        }
        let mut id_of_root: FxHashMap<u32, u32> = FxHashMap::default();
        let mut components: Vec<Component> = Vec::new();
        let mut component_of = Vec::with_capacity(rest.len());
        for i in 0..rest.len() as u32 {
            let r = root(&mut parent, i);
            let c = *id_of_root.entry(r).or_insert_with(|| {
                components.push(Component {
                    pieces: Vec::new(),
                    atoms: 0,
                    sat: std::cell::Cell::new(None),
                });
                components.len() as u32 - 1
            });
            components[c as usize].pieces.push(i);
            component_of.push(c);
        }
        for list in by_atom.values() {
            components[component_of[list[0] as usize] as usize].atoms += 1;
        }
        Conjunction {
            fixed: Some(fixed),
            atoms: by_atom.len(),
            rest,
            by_atom,
            component_of,
            components,
        }
    }

    /// What [`satisfiable`] answers for `self ∧ extra₁ ∧ …`, without its example.
    pub fn decide(&self, extra: &[Formula]) -> Answer {
        let Some(fixed) = &self.fixed else {
            return Answer::Unsat;
        };
        // Propagation from where `new` left it: the extra formulas first, then every piece a
        // literal they force mentions, and so on. Pieces of `rest` it simplifies are kept aside.
        let n = extra.len();
        let mut extras: Vec<Formula> = extra.to_vec();
        let extra_atoms: Vec<Vec<u32>> = extras.iter().map(Formula::atom_set).collect();
        let mut touched: FxHashMap<u32, Formula> = FxHashMap::default();
        let mut overlay: FxHashMap<u32, bool> = FxHashMap::default();
        let mut dirty: Vec<usize> = (0..n).rev().collect();
        let mut units = Vec::new();
        while let Some(i) = dirty.pop() {
            let value = |a: u32| overlay.get(&a).or_else(|| fixed.get(&a)).copied();
            let s = if i < n {
                simplify_by(&extras[i], &value)
            } else {
                let j = (i - n) as u32;
                simplify_by(touched.get(&j).unwrap_or(&self.rest[j as usize]), &value)
            };
            if s == Formula::False {
                return Answer::Unsat;
            }
            units.clear();
            forced(&s, true, &mut units);
            if i < n {
                extras[i] = s;
            } else {
                touched.insert((i - n) as u32, s);
            }
            for &(a, v) in &units {
                match overlay.get(&a).or_else(|| fixed.get(&a)) {
                    Some(&old) if old != v => return Answer::Unsat,
                    Some(_) => {}
                    None => {
                        overlay.insert(a, v);
                        let pieces = self.by_atom.get(&a).into_iter().flatten();
                        dirty.extend(pieces.map(|j| *j as usize + n));
                        dirty.extend((0..n).filter(|k| extra_atoms[*k].binary_search(&a).is_ok()));
                    }
                }
            }
        }
        // The components the question reaches: those of the pieces it simplified, and those
        // that mention an atom its formulas still do.
        extras.retain(|e| *e != Formula::True);
        let mut reached: Vec<u32> = touched
            .keys()
            .map(|j| self.component_of[*j as usize])
            .collect();
        for e in &extras {
            for a in e.atom_set() {
                if let Some(list) = self.by_atom.get(&a) {
                    reached.push(self.component_of[list[0] as usize]);
                }
            }
        }
        reached.sort_unstable();
        reached.dedup();
        let reached_atoms: usize = reached
            .iter()
            .map(|c| self.components[*c as usize].atoms)
            .sum();
        let others = self.atoms - reached_atoms;
        if others > MAX_ATOMS {
            return Answer::TooLarge;
        }
        let mut parts = extras;
        for c in &reached {
            for j in &self.components[*c as usize].pieces {
                parts.push(touched.get(j).unwrap_or(&self.rest[*j as usize]).clone());
            }
        }
        let (question, atoms) = renumbered(&Formula::and(parts));
        if others + atoms > MAX_ATOMS {
            return Answer::TooLarge;
        }
        if satisfiable(&question) == Sat::Unsat {
            return Answer::Unsat;
        }
        let unsat_elsewhere = (0..self.components.len() as u32)
            .filter(|c| reached.binary_search(c).is_err())
            .any(|c| !self.component_sat(c));
        if unsat_elsewhere {
            Answer::Unsat
        } else {
            Answer::Sat
        }
    }

    /// Whether component `c` is satisfiable on its own (asked only when it has at most
    /// [`MAX_ATOMS`] atoms; remembered).
    fn component_sat(&self, c: u32) -> bool {
        let component = &self.components[c as usize];
        if let Some(known) = component.sat.get() {
            return known;
        }
        let pieces = component
            .pieces
            .iter()
            .map(|j| self.rest[*j as usize].clone());
        let (f, _) = renumbered(&Formula::and(pieces));
        let sat = satisfiable(&f) != Sat::Unsat;
        component.sat.set(Some(sat));
        sat
    }
}

/// `f` with its atoms numbered from 0 in order of first occurrence (so that a search's
/// assignment table is as long as the question, not as the whole atom table), and how many
/// there are.
fn renumbered(f: &Formula) -> (Formula, usize) {
    fn go(f: &Formula, map: &mut FxHashMap<u32, u32>) -> Formula {
        match f {
            Formula::True | Formula::False => f.clone(),
            Formula::Atom(a) => {
                let next = map.len() as u32;
                Formula::Atom(*map.entry(*a).or_insert(next))
            }
            Formula::Not(x) => Formula::Not(Box::new(go(x, map))),
            Formula::And(xs) => Formula::And(xs.iter().map(|x| go(x, map)).collect()),
            Formula::Or(xs) => Formula::Or(xs.iter().map(|x| go(x, map)).collect()),
        }
    }
    let mut map = FxHashMap::default();
    let f = go(f, &mut map);
    (f, map.len())
}

/// [`simplify`] with the assignment as a function (kept in maps by [`Conjunction`]).
fn simplify_by(f: &Formula, value: &impl Fn(u32) -> Option<bool>) -> Formula {
    match f {
        Formula::True | Formula::False => f.clone(),
        Formula::Atom(a) => match value(*a) {
            Some(true) => Formula::True,
            Some(false) => Formula::False,
            None => f.clone(),
        },
        Formula::Not(x) => Formula::negate(simplify_by(x, value)),
        Formula::And(xs) => Formula::and(xs.iter().map(|x| simplify_by(x, value))),
        Formula::Or(xs) => Formula::or(xs.iter().map(|x| simplify_by(x, value))),
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

        /// Unit propagation keeps exactly the models: `None` only when there is none, and
        /// otherwise the models of `f` are those of what is left that agree with the atoms it
        /// fixed.
        #[test]
        fn propagation_keeps_the_models(f in formula()) {
            let mut assignment = vec![None; 6];
            let rest = propagate(&f, &mut assignment);
            for bits in 0..64u32 {
                let agrees = assignment
                    .iter()
                    .enumerate()
                    .all(|(a, v)| v.is_none_or(|v| (bits >> a & 1 == 1) == v));
                let kept = rest.as_ref().is_some_and(|r| agrees && truth(r, bits));
                prop_assert_eq!(truth(&f, bits), kept, "{:?} under {:#b}", f, bits);
            }
        }

        /// Past the limit, a formula whose extra atoms are all forced is decided as its small
        /// part is, and its example makes it true whatever the atoms it leaves out.
        #[test]
        fn forced_atoms_past_the_limit_are_decided(f in formula()) {
            let forced = Formula::negate(Formula::or((10..=10 + MAX_ATOMS as u32).map(atom)));
            let big = Formula::and([f.clone(), forced]);
            let models: Vec<u32> = (0..64u32).filter(|&b| truth(&f, b)).collect();
            match satisfiable(&big) {
                Sat::Unsat => prop_assert!(models.is_empty(), "{f:?} is true under {:#b}", models[0]),
                Sat::Sat(w) => {
                    prop_assert!((10..=10 + MAX_ATOMS as u32).all(|a| w.contains(&(a, false))));
                    for bits in 0..64u32 {
                        let agrees = w.iter().all(|&(a, v)| a >= 10 || (bits >> a & 1 == 1) == v);
                        prop_assert!(!agrees || truth(&f, bits), "{f:?}: {w:?} misses {bits:#b}");
                    }
                }
                Sat::TooLarge => prop_assert!(false, "only six atoms are left to search"),
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

    /// Formulas over atoms `atoms`, small: the conditions of rules.
    fn rule(atoms: std::ops::Range<u32>) -> impl Strategy<Value = Formula> {
        let leaf = prop_oneof![
            1 => Just(Formula::True),
            1 => Just(Formula::False),
            8 => atoms.prop_map(Formula::Atom),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(Formula::negate),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Formula::and),
                prop::collection::vec(inner, 0..4).prop_map(Formula::or),
            ]
        })
    }

    fn answer(sat: &Sat) -> Answer {
        match sat {
            Sat::Unsat => Answer::Unsat,
            Sat::Sat(_) => Answer::Sat,
            Sat::TooLarge => Answer::TooLarge,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// A prepared conjunction answers as `satisfiable` does on the formula the compliance
        /// checks write whole (`cond ∧ ¬(d₁ ∨ …) ∧ ¬(r₁ ∨ …)`, and with `¬consent`): the same
        /// of satisfiable, unsatisfiable and too large, over few atoms (searched) and over
        /// many (propagated first, and split). Each conjunction answers several questions, as
        /// it does for the allows of one action.
        #[test]
        fn prepared_conjunctions_answer_as_the_whole_formula(
            (denies, reviews, questions, consents) in
                // Questions over the facts of the rules, or over half of them and others (so
                // that parts of the rules are left unreached, to be answered on their own).
                (prop_oneof![Just(6u32), Just(30u32), Just(60u32)], 0..2u32)
                    .prop_flat_map(|(atoms, shift)| {
                        let asked = atoms / 2 * shift..atoms / 2 * shift + atoms;
                        (
                            prop::collection::vec(rule(0..atoms), 0..40),
                            prop::collection::vec(rule(0..atoms), 0..3),
                            prop::collection::vec(rule(asked.clone()), 1..6),
                            prop::collection::vec(rule(asked), 1..6),
                        )
                    })
        ) {
            let no_deny = Formula::negate(Formula::or(denies.clone()));
            let no_review = Formula::negate(Formula::or(reviews.clone()));
            let prepared = Conjunction::new(
                denies.iter().chain(&reviews).cloned().map(Formula::negate),
            );
            for (cond, consent) in questions.iter().zip(&consents) {
                let whole = Formula::and([cond.clone(), no_deny.clone(), no_review.clone()]);
                prop_assert_eq!(
                    prepared.decide(std::slice::from_ref(cond)),
                    answer(&satisfiable(&whole)),
                    "{:?} with denies {:?}, reviews {:?}", cond, denies, reviews
                );
                let without = Formula::negate(consent.clone());
                let whole = Formula::and([whole, without.clone()]);
                prop_assert_eq!(
                    prepared.decide(&[cond.clone(), without]),
                    answer(&satisfiable(&whole)),
                    "{:?} without {:?}, denies {:?}, reviews {:?}", cond, consent, denies, reviews
                );
            }
        }
    }

    /// Many denies each over facts of its own, and an allow over one of them: the question
    /// reaches that deny's component only, and is decided (satisfiable, or not when the
    /// allow's condition is a deny's), as the whole formula is; a deny that always applies
    /// leaves nothing allowed; and facts left over past the limit make it too large.
    #[test]
    fn prepared_conjunctions_of_many_denies() {
        // `¬(a₂ᵢ ∧ a₂ᵢ₊₁)` for 1,000 denies: 2,000 atoms, none forced.
        let denies: Vec<Formula> = (0..1000)
            .map(|i| Formula::and([atom(2 * i), atom(2 * i + 1)]))
            .collect();
        let prepared = Conjunction::new(denies.iter().cloned().map(Formula::negate));
        assert_eq!(prepared.decide(&[atom(7)]), Answer::TooLarge);
        // `x == i` denies: all forced false.
        let denies: Vec<Formula> = (0..1000).map(atom).collect();
        let prepared = Conjunction::new(denies.iter().cloned().map(Formula::negate));
        assert_eq!(prepared.decide(&[atom(5000)]), Answer::Sat);
        assert_eq!(prepared.decide(&[atom(500)]), Answer::Unsat);
        assert_eq!(
            prepared.decide(&[Formula::or([atom(500), atom(5000)])]),
            Answer::Sat
        );
        assert_eq!(prepared.decide(&[Formula::False]), Answer::Unsat);
        let always = Conjunction::new(
            denies
                .iter()
                .cloned()
                .chain([Formula::True])
                .map(Formula::negate),
        );
        assert_eq!(always.decide(&[atom(5000)]), Answer::Unsat);
        // Denies of every combination of two facts: no unit is forced, nothing is allowed,
        // whatever the question over other facts.
        let every = [(true, true), (true, false), (false, true), (false, false)].map(|(a, b)| {
            let lit = |i: u32, v: bool| if v { atom(i) } else { Formula::negate(atom(i)) };
            Formula::and([lit(0, a), lit(1, b)])
        });
        let none = Conjunction::new(every.iter().cloned().map(Formula::negate));
        assert_eq!(none.decide(&[atom(2)]), Answer::Unsat);
        assert_eq!(none.decide(&[Formula::True]), Answer::Unsat);
        // At the limit: 11 denies `a ∧ b` leave 22 facts, decided; more facts in the question
        // that propagation does not fix are too many.
        let pairs: Vec<Formula> = (0..11)
            .map(|i| Formula::and([atom(2 * i), atom(2 * i + 1)]))
            .collect();
        let limit = Conjunction::new(pairs.iter().cloned().map(Formula::negate));
        let no_pair = Formula::negate(Formula::or(pairs.clone()));
        for (cond, expected) in [
            (Formula::True, Answer::Sat),
            (atom(3), Answer::Sat),
            (Formula::or([atom(900), atom(901)]), Answer::TooLarge),
        ] {
            let whole = Formula::and([cond.clone(), no_pair.clone()]);
            assert_eq!(answer(&satisfiable(&whole)), expected, "{cond:?}");
            assert_eq!(limit.decide(&[cond]), expected);
        }
        for cond in [atom(5000), atom(500), Formula::or([atom(500), atom(5000)])] {
            let whole = Formula::and([cond.clone(), Formula::negate(Formula::or(denies.clone()))]);
            assert_eq!(prepared.decide(&[cond]), answer(&satisfiable(&whole)));
        }
    }

    #[test]
    fn too_many_atoms_is_not_decided() {
        // A disjunction forces none of its atoms: all of them are left to search.
        let f = Formula::or((0..=MAX_ATOMS as u32).map(atom));
        assert_eq!(satisfiable(&f), Sat::TooLarge);
    }

    /// Many atoms, few left once the forced ones are fixed: the question a consent guard and
    /// 30 equality denies ask (`¬(¬consent ∨ d₁ ∨ … ∨ d₃₀)` with `¬consent`) is decided.
    #[test]
    fn forced_atoms_are_fixed_before_counting() {
        let consent = atom(0);
        let denies = std::iter::once(Formula::negate(consent.clone())).chain((1..=30).map(atom));
        let no_deny = Formula::negate(Formula::or(denies));
        let without = Formula::and([no_deny.clone(), Formula::negate(consent)]);
        assert_eq!(satisfiable(&without), Sat::Unsat);
        // Reaching the allow is possible: every deny fact false, consent true, and the two
        // facts of the allow's own condition that are left, one of them true.
        let allow = Formula::or([atom(40), atom(41)]);
        match satisfiable(&Formula::and([allow.clone(), no_deny.clone()])) {
            Sat::Sat(w) => {
                assert!(w.contains(&(0, true)), "{w:?}");
                assert!((1..=30).all(|d| w.contains(&(d, false))), "{w:?}");
                let mut assignment = vec![None; 42];
                for (a, v) in &w {
                    assignment[*a as usize] = Some(*v);
                }
                let f = Formula::and([allow.clone(), no_deny.clone()]);
                assert_eq!(f.eval(&assignment), Some(true), "{w:?}");
            }
            other => panic!("expected a witness, got {other:?}"),
        }
        // With more than the limit left after propagation, the answer is still TooLarge.
        let wide = Formula::or((50..=50 + MAX_ATOMS as u32).map(atom));
        assert_eq!(satisfiable(&Formula::and([wide, no_deny])), Sat::TooLarge);
    }
}
