//! `xop.toml`: who may review and operate, the trusted module key, limits. Tokens are stored
//! only as SHA-256 hashes and compared in constant time.
//!
//! ```toml
//! listen = "127.0.0.1:8080"      # --listen overrides
//! trust = "acme.pub"             # modules (--module and POST /v1/modules) must be signed by it
//! body_limit = 1048576           # bytes
//! timeout_ms = 10000             # per request
//!
//! [[reviewers]]
//! name = "ana"
//! roles = ["fraud_desk"]
//! token_sha256 = "…"             # `xop token hash`
//!
//! [[operators]]                  # may hot-swap modules and turn the halt switch
//! name = "ops"
//! token_sha256 = "…"
//! ```

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The default request body limit (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;
/// The default per-request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    trust: Option<PathBuf>,
    body_limit: Option<usize>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    reviewers: Vec<Entry>,
    #[serde(default)]
    operators: Vec<Entry>,
    /// Read by `xop_network::CamaraConfig` (which checks its keys).
    camara: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    role: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    /// Spanned: a hash two names share is reported with the lines that give it.
    token_sha256: toml::Spanned<String>,
}

/// Someone a token identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Their name, as recorded in the proof log.
    pub name: String,
    /// The review roles they hold.
    pub roles: Vec<String>,
    /// Whether they may hot-swap modules and turn the halt switch.
    pub operator: bool,
}

#[derive(Debug, Clone)]
struct Credential {
    hash: [u8; 32],
    principal: Principal,
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on, if the file gives one.
    pub listen: Option<String>,
    /// The key modules must be signed by.
    pub trust: Option<VerifyingKey>,
    /// The file [`Config::trust`] was read from (`trust = "…"`, relative to the configuration's
    /// folder): what `xop eval --config` and `xop mcp-gateway --config` check modules against,
    /// as the server does.
    pub trust_file: Option<PathBuf>,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// The per-request timeout, in milliseconds.
    pub timeout_ms: u64,
    /// The CAMARA connectors' settings (`[camara]`), when the file has them: signals are then
    /// read from the network and allowed QoD instructions carried out.
    pub camara: Option<xop_network::CamaraConfig>,
    credentials: Vec<Credential>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: None,
            trust: None,
            trust_file: None,
            body_limit: DEFAULT_BODY_LIMIT,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            camara: None,
            credentials: Vec::new(),
        }
    }
}

/// The SHA-256 of a token, hex: what `token_sha256` holds.
pub fn token_hash(token: &str) -> String {
    xop_runtime::module::hex(&Sha256::digest(token.trim().as_bytes()))
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    xop_runtime::proof::unhex32(&s.to_ascii_lowercase())
}

impl Config {
    /// Reads `xop.toml`. Relative paths in it (`trust`) are relative to its folder.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the configuration `{}`: {}",
                path.display(),
                xop_runtime::io::reason(&e)
            )
        })?;
        Config::parse(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| format!("`{}`: {e}", path.display()))
    }

    /// Parses a configuration's text; `base` is where relative paths start.
    pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let trust_file = file.trust.as_ref().map(|p| base.join(p));
        let trust = match &trust_file {
            None => None,
            Some(p) => Some(xop_runtime::module::read_verifying_key(p)?),
        };
        let mut credentials: Vec<Credential> = Vec::new();
        // Where each credential's hash is given: (table, line), to name both of two entries
        // that share one.
        let mut given_at: Vec<(&str, usize)> = Vec::new();
        for (table, entries, operator) in [
            ("reviewers", &file.reviewers, false),
            ("operators", &file.operators, true),
        ] {
            for e in entries {
                let line =
                    xop_runtime::bind::line_column(text.as_bytes(), e.token_sha256.span().start).0;
                let hash = unhex(e.token_sha256.get_ref()).ok_or_else(|| {
                    format!(
                        "[[{table}]] `{}` (line {line}): token_sha256 must be 64 hex digits, \
                         the SHA-256 of the token (`xop token hash`)",
                        e.name
                    )
                })?;
                let mut roles = e.roles.clone();
                roles.extend(e.role.clone());
                if !operator && roles.is_empty() {
                    return Err(format!(
                        "[[reviewers]] `{}` has no role: add `roles = [\"…\"]`",
                        e.name
                    ));
                }
                // A token identifies one person: shared by two names, it would be accepted as
                // the first with the roles of both (one reviewer approving as another), and
                // the proof log would name the wrong one. The same name listed twice (as
                // reviewer and as operator) is one person.
                if let Some((c, (other_table, other_line))) = credentials
                    .iter()
                    .zip(&given_at)
                    .find(|(c, _)| c.hash == hash && c.principal.name != e.name)
                {
                    return Err(format!(
                        "[[{table}]] `{}` has the same token_sha256 (line {line}) as \
                         [[{other_table}]] `{}` (line {other_line}): one token would be both \
                         people, and whoever holds it could act with the roles of both and be \
                         recorded as `{}`; give each person a token of their own (`xop token \
                         new`) and put its hash under their name (one name may be listed as \
                         both reviewer and operator with the same token)",
                        e.name, c.principal.name, c.principal.name
                    ));
                }
                credentials.push(Credential {
                    hash,
                    principal: Principal {
                        name: e.name.clone(),
                        roles,
                        operator,
                    },
                });
                given_at.push((table, line));
            }
        }
        if file.body_limit == Some(0) {
            return Err("body_limit must be at least 1 byte".into());
        }
        let camara = match file.camara {
            None => None,
            Some(_) => Some(
                xop_network::CamaraConfig::from_toml(text).map_err(|e| format!("[camara]: {e}"))?,
            ),
        };
        Ok(Config {
            listen: file.listen,
            trust,
            trust_file,
            body_limit: file.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
            timeout_ms: file.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS).max(1),
            camara,
            credentials,
        })
    }

    /// Whether anyone the file lists (a reviewer, or an operator given roles) holds review
    /// role `role`.
    pub fn holds_role(&self, role: &str) -> bool {
        self.credentials
            .iter()
            .any(|c| c.principal.roles.iter().any(|r| r == role))
    }

    /// Who `token` identifies: every entry whose hash matches (a name listed both as reviewer
    /// and as operator gets both; [`Config::parse`] refuses one hash under two names). Every
    /// entry is compared, in constant time, so the time taken says nothing about which hash is
    /// close.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let digest = Sha256::digest(token.trim().as_bytes());
        let mut found: Option<Principal> = None;
        for c in &self.credentials {
            if bool::from(c.hash[..].ct_eq(digest.as_slice())) {
                match &mut found {
                    None => found = Some(c.principal.clone()),
                    Some(p) => {
                        p.roles.extend(c.principal.roles.iter().cloned());
                        p.operator |= c.principal.operator;
                    }
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_by_hash_only() {
        let text = format!(
            "[[reviewers]]\nname = \"ana\"\nroles = [\"fraud_desk\"]\ntoken_sha256 = \"{}\"\n\
             [[operators]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\n",
            token_hash("secret-a"),
            token_hash("secret-o")
        );
        let c = Config::parse(&text, Path::new(".")).unwrap();
        let ana = c.authenticate("secret-a").unwrap();
        assert_eq!(ana.roles, ["fraud_desk"]);
        assert!(!ana.operator);
        assert!(c.authenticate("secret-o").unwrap().operator);
        assert!(c.authenticate("secret-b").is_none());
        assert!(c.authenticate(&token_hash("secret-a")).is_none());
    }

    #[test]
    fn bad_configs_say_what_to_fix() {
        let e = Config::parse(
            "[[reviewers]]\nname = \"a\"\nroles = [\"x\"]\ntoken_sha256 = \"nothex\"\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.contains("xop token hash"), "{e}");
        let e = Config::parse(
            &format!(
                "[[reviewers]]\nname = \"a\"\ntoken_sha256 = \"{}\"\n",
                token_hash("t")
            ),
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.contains("no role"), "{e}");
        assert!(Config::parse("colour = 1", Path::new(".")).is_err());
    }
}
