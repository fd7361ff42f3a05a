//! Lowers the files given on the command line and prints a summary of the IR (a developer aid;
//! users run `xop build`).
fn main() {
    let mut ws = xop_compiler::db::Workspace::new();
    for p in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&p).expect("readable file");
        ws.set_file(&p, text);
    }
    match xop_compiler::lower::lower(ws.db(), ws.project()) {
        Ok(p) => {
            println!(
                "{} records, {} enums, {} symbols, {} signals, {} policies, {} tests",
                p.records.len(),
                p.enums.len(),
                p.symbols.len(),
                p.signals.len(),
                p.policies.len(),
                p.tests.len()
            );
            for pol in &p.policies {
                println!(
                    "policy {} for {} ({} rules, {} slots)",
                    pol.qualified,
                    pol.action,
                    pol.rules.len(),
                    pol.slots
                );
            }
            for t in &p.tests {
                match &t.action {
                    None => println!(
                        "test {:?} → policy {} expects {:?} {:?}",
                        t.name, t.policy, t.expect, t.reasons
                    ),
                    Some(a) => println!(
                        "test {:?} → action {a} expects {:?} {:?}",
                        t.name, t.expect, t.reasons
                    ),
                }
            }
        }
        Err(errors) => {
            for e in errors {
                println!("error: {e}");
            }
        }
    }
}
