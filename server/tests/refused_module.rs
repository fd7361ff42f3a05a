//! `xop serve` reads and verifies its modules before it opens the data folder: a module it
//! refuses (unsigned under `trust`, signed by another key, a mistyped path) leaves no new
//! folder, proof log or log signing key behind, as a port in use does not.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use xop_compiler::db::Workspace;
use xop_runtime::module::{Module, hash_sources, parse_signing_key, write_keypair};
use xop_server::{ServeOptions, serve};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "xop-serve-refused-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test module (tests/pay/pay.xop), compiled and signed by `key` when given.
fn module_bytes(key: Option<&str>) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pay/pay.xop");
    let text = std::fs::read_to_string(path).unwrap();
    let mut ws = Workspace::new();
    ws.set_file("pay.xop", text.as_str());
    let program = xop_compiler::lower::lower(ws.db(), ws.project()).unwrap();
    let module = Module {
        program,
        source_hash: hash_sources([("pay.xop", text.as_bytes())]),
        sources: vec!["pay.xop".into()],
    };
    let key = key.map(|k| parse_signing_key(k).unwrap());
    module.to_bytes(key.as_ref())
}

#[test]
fn a_refused_module_creates_no_data_folder() {
    let tmp = TempDir::new("refused");
    let (trusted_secret, trusted) = write_keypair([7; 32]);
    let (other_secret, _) = write_keypair([8; 32]);
    std::fs::write(tmp.0.join("trust.pub"), trusted).unwrap();
    std::fs::write(tmp.0.join("xop.toml"), "trust = \"trust.pub\"\n").unwrap();
    std::fs::write(tmp.0.join("unsigned.xopm"), module_bytes(None)).unwrap();
    std::fs::write(tmp.0.join("other.xopm"), module_bytes(Some(&other_secret))).unwrap();
    std::fs::write(tmp.0.join("pay.xopm"), module_bytes(Some(&trusted_secret))).unwrap();
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
