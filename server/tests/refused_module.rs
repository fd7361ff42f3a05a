//! `xop serve` reads and verifies its modules before it opens the data folder: a module it
//! refuses (unsigned under `trust`, signed by another key, a mistyped path) leaves no new
//! folder, proof log or log signing key behind, as a port in use does not.

mod support;

use xop_runtime::module::write_keypair;
use xop_server::{ServeOptions, serve};

use support::{TempDir, module_bytes};

#[test]
fn a_refused_module_creates_no_data_folder() {
    let tmp = TempDir::new("refused");
    let (trusted_secret, trusted) = write_keypair([7; 32]);
    let (other_secret, _) = write_keypair([8; 32]);
    std::fs::write(tmp.0.join("trust.pub"), trusted).unwrap();
    std::fs::write(tmp.0.join("xop.toml"), "trust = \"trust.pub\"\n").unwrap();
    // The test module as written, signed by no key, another key, the trusted key.
    let pay = |key: Option<&str>| module_bytes("allow \"ok\"", key);
    std::fs::write(tmp.0.join("unsigned.xopm"), pay(None)).unwrap();
    std::fs::write(tmp.0.join("other.xopm"), pay(Some(&other_secret))).unwrap();
    std::fs::write(tmp.0.join("pay.xopm"), pay(Some(&trusted_secret))).unwrap();
    let opts = |module: &str, data: &str| ServeOptions {
        modules: vec![tmp.0.join(module)],
        data: tmp.0.join(data),
        config: Some(tmp.0.join("xop.toml")),
        listen: Some("127.0.0.1:0".into()),
        workers: Some(1),
    };
    for (module, data, says) in [
        ("unsigned.xopm", "d1", "the module is not signed"),
        ("other.xopm", "d2", "not by the trusted key"),
        ("typo.xopm", "d3", "cannot read"),
    ] {
        let o = opts(module, data);
        let err = serve(&o).err().expect("refused");
        assert!(err.contains(says) && err.contains(module), "{err}");
        assert!(!o.data.exists(), "{module}: {err}");
    }
    // A second module refused after a good one: nothing created either.
    let mut o = opts("pay.xopm", "d4");
    o.modules.push(tmp.0.join("unsigned.xopm"));
    let err = serve(&o).err().expect("refused");
    assert!(err.contains("unsigned.xopm"), "{err}");
    assert!(!o.data.exists(), "{err}");
    // The module the key signed is served, in a data folder created for it.
    let running = serve(&opts("pay.xopm", "d5")).expect("served");
    assert!(tmp.0.join("d5").join("log.key").exists());
    running.stop().unwrap();
}
