//! `xop serve` without the rest of the `xop` command (no compiler, no language server): a
//! small binary for load tests (`bench/http.sh`).
//!
//! `cargo run --release -p xop-server --example serve -- MODULE.xopm DATA_DIR [ADDR [CONFIG]]`

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [module, data, rest @ ..] = args.as_slice() else {
        eprintln!("usage: serve MODULE.xopm DATA_DIR [ADDR [CONFIG]]");
        std::process::exit(2);
    };
    let opts = xop_server::ServeOptions {
        modules: vec![module.into()],
        data: data.into(),
        listen: rest.first().cloned(),
        config: rest.get(1).map(Into::into),
        workers: None,
    };
    if let Err(m) = xop_server::run(&opts) {
        eprintln!("error: {m}");
        std::process::exit(2);
    }
}
