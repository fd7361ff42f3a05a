//! The `[camara]` section of `xop.toml`: where the CAMARA APIs are, how to get a token, and how
//! long to wait. The format is documented in `docs/network.md`.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// One of the CAMARA APIs the connectors call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// SIM Swap 2.1.0.
    SimSwap,
    /// Quality on Demand 1.1.0.
    QualityOnDemand,
    /// Device Roaming Status 1.0.0.
    DeviceRoamingStatus,
    /// Device Reachability Status 1.0.0.
    DeviceReachabilityStatus,
}

impl Api {
    /// The API's name in CAMARA (and in the recorded calls), e.g. `sim-swap`.
    pub fn name(self) -> &'static str {
        match self {
            Api::SimSwap => "sim-swap",
            Api::QualityOnDemand => "quality-on-demand",
            Api::DeviceRoamingStatus => "device-roaming-status",
            Api::DeviceReachabilityStatus => "device-reachability-status",
        }
    }

    /// The path of the API under the API root, as the OpenAPI file's `servers` entry writes it
    /// (`{apiRoot}/sim-swap/v2`).
    pub fn base_path(self) -> &'static str {
        match self {
            Api::SimSwap => "/sim-swap/v2",
            Api::QualityOnDemand => "/quality-on-demand/v1",
            Api::DeviceRoamingStatus => "/device-roaming-status/v1",
            Api::DeviceReachabilityStatus => "/device-reachability-status/v1",
        }
    }
}

/// A secret read from the configuration; never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The connectors' configuration, resolved (secrets read, defaults applied, URLs checked).
#[derive(Debug, Clone)]
pub struct CamaraConfig {
    /// Base URL of each API (without a trailing `/`), or `None` when it is not configured.
    pub sim_swap: Option<String>,
    /// Base URL of Quality on Demand.
    pub quality_on_demand: Option<String>,
    /// Base URL of Device Roaming Status.
    pub device_roaming_status: Option<String>,
    /// Base URL of Device Reachability Status.
    pub device_reachability_status: Option<String>,
    /// The OAuth2 token endpoint (client-credentials grant).
    pub token_url: String,
    /// The OAuth2 client id.
    pub client_id: String,
    /// The OAuth2 client secret.
    pub client_secret: Secret,
    /// The scopes to ask for (space-separated), if any.
    pub scope: Option<String>,
    /// How long one attempt may take, from connecting to the end of the answer.
    pub timeout: Duration,
    /// How long connecting may take (at most `timeout`).
    pub connect_timeout: Duration,
    /// How many attempts a call may make in all (at least 1).
    pub max_attempts: u32,
    /// The wait before the first retry; doubled before each further retry.
    pub backoff: Duration,
    /// The longest wait between two attempts (also caps a `Retry-After`).
    pub max_backoff: Duration,
    /// How long a token is used when the token endpoint gives no `expires_in`.
    pub default_token_lifetime: Duration,
    /// How many signal values the cache keeps at most.
    pub cache_entries: usize,
}

impl CamaraConfig {
    /// The base URL of `api`, if configured.
    pub fn base_url(&self, api: Api) -> Option<&str> {
        match api {
            Api::SimSwap => self.sim_swap.as_deref(),
            Api::QualityOnDemand => self.quality_on_demand.as_deref(),
            Api::DeviceRoamingStatus => self.device_roaming_status.as_deref(),
            Api::DeviceReachabilityStatus => self.device_reachability_status.as_deref(),
        }
    }

    /// A configuration for APIs all served under `api_root` (each at its spec's path), with
    /// the given token endpoint and client credentials, and the default timeouts and retries.
    pub fn with_root(
        api_root: &str,
        token_url: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<CamaraConfig, ConfigError> {
        let raw = RawCamara {
            api_root: Some(api_root.to_string()),
            token_url: Some(token_url.to_string()),
            client_id: Some(client_id.to_string()),
            client_secret: Some(client_secret.to_string()),
            ..RawCamara::default()
        };
        raw.resolve(&|_| None)
    }

    /// Reads the `[camara]` section of an `xop.toml` text. Other sections are ignored; unknown
    /// keys inside `[camara]` are refused (a typo would otherwise silently fall back to a
    /// default). `client_secret_env` is looked up in the process environment.
    pub fn from_toml(text: &str) -> Result<CamaraConfig, ConfigError> {
        Self::from_toml_with_env(text, &|name| std::env::var(name).ok())
    }

    /// Like [`CamaraConfig::from_toml`], with the environment given by `env`.
    ///
    /// Errors do not name a file (the text may come from anywhere): [`CamaraConfig::from_file`]
    /// puts the file's name before them.
    pub fn from_toml_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CamaraConfig, ConfigError> {
        let file: XopToml = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let Some(raw) = file.camara else {
            return Err(ConfigError(
                "no [camara] section: add one to call the CAMARA APIs (see docs/network.md)".into(),
            ));
        };
        raw.resolve(env)
    }

    /// Reads the `[camara]` section of the `xop.toml` file at `path`; an error names the file
    /// (`c.toml: [camara] api_root: …`).
    pub fn from_file(path: &Path) -> Result<CamaraConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "cannot read `{}`: {}",
                path.display(),
                xop_runtime::io::reason(&e)
            ))
        })?;
        Self::from_toml(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }
}

/// A configuration that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
struct XopToml {
    camara: Option<RawCamara>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCamara {
    api_root: Option<String>,
    #[serde(default)]
    apis: RawApis,
    token_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    scope: Option<String>,
    timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
    default_token_lifetime_s: Option<u64>,
    cache_entries: Option<usize>,
    #[serde(default)]
    allow_plain_http: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApis {
    sim_swap: Option<String>,
    quality_on_demand: Option<String>,
    device_roaming_status: Option<String>,
    device_reachability_status: Option<String>,
}

impl RawCamara {
    fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<CamaraConfig, ConfigError> {
        let plain = self.allow_plain_http;
        let root = self
            .api_root
            .as_deref()
            .map(|r| checked_url("api_root", r, plain))
            .transpose()?;
        let base = |key: &str, given: Option<String>, api: Api| -> Result<_, ConfigError> {
            match (given, &root) {
                (Some(url), _) => checked_url(&format!("apis.{key}"), &url, plain).map(Some),
                (None, Some(root)) => Ok(Some(format!("{root}{}", api.base_path()))),
                (None, None) => Ok(None),
            }
        };
        let sim_swap = base("sim_swap", self.apis.sim_swap, Api::SimSwap)?;
        let quality_on_demand = base(
            "quality_on_demand",
            self.apis.quality_on_demand,
            Api::QualityOnDemand,
        )?;
        let device_roaming_status = base(
            "device_roaming_status",
            self.apis.device_roaming_status,
            Api::DeviceRoamingStatus,
        )?;
        let device_reachability_status = base(
            "device_reachability_status",
            self.apis.device_reachability_status,
            Api::DeviceReachabilityStatus,
        )?;
        let token_url = self.token_url.ok_or_else(|| {
            ConfigError("[camara] needs token_url, the OAuth2 token endpoint".into())
        })?;
        let token_url = checked_url("token_url", &token_url, plain)?;
        let client_id = self
            .client_id
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ConfigError("[camara] needs client_id".into()))?;
        let client_secret = match (self.client_secret, self.client_secret_env) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "[camara] has both client_secret and client_secret_env: keep one".into(),
                ));
            }
            (Some(s), None) => Secret(s),
            (None, Some(var)) => Secret(env(&var).ok_or_else(|| {
                ConfigError(format!(
                    "[camara] client_secret_env names `{var}`, which is not set"
                ))
            })?),
            (None, None) => {
                return Err(ConfigError(
                    "[camara] needs client_secret or client_secret_env".into(),
                ));
            }
        };
        let ms = Duration::from_millis;
        let timeout = ms(self.timeout_ms.unwrap_or(2_000));
        if timeout.is_zero() {
            return Err(ConfigError("[camara] timeout_ms must be at least 1".into()));
        }
        let connect_timeout = ms(self.connect_timeout_ms.unwrap_or(1_000)).min(timeout);
        let max_attempts = self.max_attempts.unwrap_or(3);
        if !(1..=10).contains(&max_attempts) {
            return Err(ConfigError(
                "[camara] max_attempts must be between 1 and 10".into(),
            ));
        }
        Ok(CamaraConfig {
            sim_swap,
            quality_on_demand,
            device_roaming_status,
            device_reachability_status,
            token_url,
            client_id,
            client_secret,
            scope: self.scope.filter(|s| !s.is_empty()),
            timeout,
            connect_timeout,
            max_attempts,
            backoff: ms(self.backoff_ms.unwrap_or(100)),
            max_backoff: ms(self.max_backoff_ms.unwrap_or(2_000)),
            default_token_lifetime: Duration::from_secs(
                self.default_token_lifetime_s.unwrap_or(300),
            ),
            cache_entries: self.cache_entries.unwrap_or(10_000).max(1),
        })
    }
}

/// `url` without its trailing `/`, if it is an `https://` URL, or an `http://` URL to this
/// machine (a local stand-in) or with `allow_plain_http`: bearer tokens and phone numbers are
/// not sent in clear over a network. Neither user information (`user@`: credentials go in
/// `client_id` / `client_secret`, and a URL carrying them ends up in logs) nor a fragment
/// (`#…`, which is never sent) is allowed; nor a query (`?…`) in a base URL (`api_root`,
/// `apis.*`), under which the contract paths are appended: `https://h?x=` + `/retrieve`
/// would send every request to `/`. The token endpoint may have a query (RFC 6749 §3.2).
fn checked_url(key: &str, url: &str, allow_plain_http: bool) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let base = key != "token_url";
    let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let refuse = |what: &str| {
        Err(ConfigError(format!(
            "[camara] {key}: `{url}` has {what}: {}",
            if base {
                "give only the scheme, host, port and path of the base URL, to which the \
                 contract paths are appended"
            } else {
                "give only the token endpoint's URL"
            }
        )))
    };
    if authority.contains('@') {
        return refuse(
            "user information (`…@`; the credentials go in client_id and client_secret)",
        );
    }
    if url.contains('#') {
        return refuse("a fragment (`#…`, which is never sent)");
    }
    if base && url.contains('?') {
        return refuse("a query (`?…`)");
    }
    let host_of = |rest: &str| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        if host.starts_with('[') {
            host.split(']')
                .next()
                .map(|h| format!("{h}]"))
                .unwrap_or_default()
        } else {
            host.split(':').next().unwrap_or("").to_string()
        }
    };
    if let Some(rest) = url.strip_prefix("https://") {
        if host_of(rest).is_empty() {
            return Err(ConfigError(format!("[camara] {key}: `{url}` has no host")));
        }
        return Ok(url.to_string());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = host_of(rest);
        if host.is_empty() {
            return Err(ConfigError(format!("[camara] {key}: `{url}` has no host")));
        }
        // Only names that cannot leave the machine: `127.evil.example` is a DNS name.
        let local = host == "localhost"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback());
        if local || allow_plain_http {
            return Ok(url.to_string());
        }
        return Err(ConfigError(format!(
            "[camara] {key}: `{url}` is plain http to another machine: use https (or set allow_plain_http = true)"
        )));
    }
    Err(ConfigError(format!(
        "[camara] {key}: `{url}` is not an http(s) URL"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[other]
ignored = true

[camara]
api_root = "https://api.example.com/"
token_url = "https://auth.example.com/oauth2/token"
client_id = "xop"
client_secret_env = "CAMARA_SECRET"
scope = "sim-swap"
timeout_ms = 1500
max_attempts = 2

[camara.apis]
quality_on_demand = "https://qod.example.com/qod/v1"
"#;

    fn env(name: &str) -> Option<String> {
        (name == "CAMARA_SECRET").then(|| "s3cret".to_string())
    }

    #[test]
    fn reads_the_camara_section() {
        let c = CamaraConfig::from_toml_with_env(FULL, &env).unwrap();
        assert_eq!(
            c.base_url(Api::SimSwap),
            Some("https://api.example.com/sim-swap/v2")
        );
        assert_eq!(
            c.base_url(Api::QualityOnDemand),
            Some("https://qod.example.com/qod/v1")
        );
        assert_eq!(
            c.base_url(Api::DeviceReachabilityStatus),
            Some("https://api.example.com/device-reachability-status/v1")
        );
        assert_eq!(c.client_secret.expose(), "s3cret");
        assert_eq!(c.timeout, Duration::from_millis(1500));
        assert_eq!(c.connect_timeout, Duration::from_millis(1000));
        assert_eq!(c.max_attempts, 2);
        assert_eq!(c.scope.as_deref(), Some("sim-swap"));
        // The secret never shows in debug output.
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn refuses_what_cannot_work() {
        let bad = |text: &str| CamaraConfig::from_toml_with_env(text, &env).unwrap_err().0;
        assert!(bad("[other]\n").contains("no [camara] section"));
        assert!(
            bad("[camara]\ntoken_url = \"https://a/t\"\nclient_id = \"x\"\n")
                .contains("client_secret")
        );
        assert!(bad("[camara]\nclient_id = \"x\"\nclient_secret = \"y\"\n").contains("token_url"));
        assert!(
            bad("[camara]\ntokn_url = \"https://a/t\"\n").contains("unknown field"),
            "a typo is refused"
        );
        let plain = "[camara]\napi_root = \"http://api.example.com\"\ntoken_url = \"https://a/t\"\nclient_id = \"x\"\nclient_secret = \"y\"\n";
        assert!(bad(plain).contains("plain http"));
        let unset = "[camara]\ntoken_url = \"https://a/t\"\nclient_id = \"x\"\nclient_secret_env = \"NOPE\"\n";
        assert!(bad(unset).contains("not set"));
        let attempts = "[camara]\ntoken_url = \"https://a/t\"\nclient_id = \"x\"\nclient_secret = \"y\"\nmax_attempts = 0\n";
        assert!(bad(attempts).contains("max_attempts"));
    }

    /// A base URL has the contract paths appended: a query or a fragment would swallow them
    /// (`http://h#v1` + `/retrieve` sends to `/`), and user information has no place in it.
    /// Refused, naming the key (and, read from a file, the file).
    #[test]
    fn urls_that_would_misroute_are_refused() {
        let with = |key: &str, url: &str| {
            let mut text = String::from("[camara]\n");
            if key != "token_url" {
                text.push_str("token_url = \"https://a.example/t\"\n");
            }
            text.push_str("client_id = \"x\"\nclient_secret = \"y\"\n");
            match key.strip_prefix("apis.") {
                Some(api) => text.push_str(&format!("[camara.apis]\n{api} = \"{url}\"\n")),
                None => text.push_str(&format!("{key} = \"{url}\"\n")),
            }
            CamaraConfig::from_toml_with_env(&text, &env)
        };
        for (key, url, what) in [
            ("api_root", "http://127.0.0.1:8080#v1", "a fragment"),
            ("api_root", "https://api.example.com/#v1", "a fragment"),
            ("api_root", "https://api.example.com?x=", "a query"),
            ("api_root", "https://api.example.com/base?x=1", "a query"),
            (
                "api_root",
                "https://user:pw@api.example.com",
                "user information",
            ),
            ("api_root", "http://u@127.0.0.1:8080", "user information"),
            (
                "apis.sim_swap",
                "https://h.example/sim-swap/v2?x",
                "a query",
            ),
            (
                "apis.quality_on_demand",
                "https://h.example/qod#frag",
                "a fragment",
            ),
            ("token_url", "https://a.example/t#x", "a fragment"),
            (
                "token_url",
                "https://id:secret@a.example/t",
                "user information",
            ),
        ] {
            let e = with(key, url).unwrap_err().0;
            assert!(e.starts_with(&format!("[camara] {key}: `")), "{url}: {e}");
            assert!(e.contains(&format!("has {what}")), "{url}: {e}");
        }
        // A path, a port, an `@` in the path, and a query on the token endpoint (RFC 6749
        // §3.2) are fine.
        for (key, url) in [
            ("api_root", "https://api.example.com:8443/camara/"),
            ("api_root", "https://api.example.com/a@b"),
            ("token_url", "https://a.example/t?tenant=1"),
        ] {
            assert!(with(key, url).is_ok(), "{url}");
        }
    }

    /// Errors read from a file name the file given, not `xop.toml`.
    #[test]
    fn errors_name_the_file_given() {
        let dir = std::env::temp_dir().join(format!("xop-net-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        let cases = [
            ("[camara\n", "TOML parse error"),
            ("[camara]\ntimeout_ms = \"x\"\n", "TOML parse error"),
            ("[other]\n", "no [camara] section"),
            (
                "[camara]\napi_root = \"http://127.0.0.1:9#v1\"\ntoken_url = \"https://a/t\"\n\
                 client_id = \"x\"\nclient_secret = \"y\"\n",
                "[camara] api_root: `http://127.0.0.1:9#v1` has a fragment",
            ),
        ];
        for (text, what) in cases {
            std::fs::write(&file, text).unwrap();
            let e = CamaraConfig::from_file(&file).unwrap_err().0;
            assert!(
                e.starts_with(&format!("{}: {what}", file.display())),
                "{text}: {e}"
            );
            assert!(!e.contains("xop.toml"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn plain_http_is_for_this_machine() {
        for root in [
            "http://127.0.0.1:8080",
            "http://localhost:9091/",
            "http://[::1]:80",
        ] {
            let c = CamaraConfig::with_root(root, &format!("{root}/token"), "x", "y").unwrap();
            assert!(c.base_url(Api::SimSwap).unwrap().ends_with("/sim-swap/v2"));
        }
        for remote in [
            "http://10.0.0.1",
            "http://127.evil.example",
            "http://127.0.0.1.example.com:8080",
        ] {
            assert!(
                CamaraConfig::with_root(remote, "https://a/t", "x", "y").is_err(),
                "{remote}"
            );
        }
        assert!(CamaraConfig::with_root("ftp://a", "https://a/t", "x", "y").is_err());
    }
}
