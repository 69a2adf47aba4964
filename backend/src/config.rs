//! Typed configuration, loaded once at startup from the environment (and `.env` if present).
//! Each field names its variable; a wrong value fails startup with a message naming it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use url::Url;

use crate::crypto::EncryptionKey;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("{var} is required when {because}")]
    Missing {
        var: &'static str,
        because: &'static str,
    },
    #[error("could not prepare the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where Calendly lives and the OAuth app's credentials.
#[derive(Clone, Debug)]
pub struct CalendlySettings {
    /// `CALENDLY_CLIENT_ID`
    pub client_id: String,
    /// `CALENDLY_CLIENT_SECRET`
    pub client_secret: calendly::secrets::ClientSecret,
    /// `CALENDLY_WEBHOOK_SIGNING_KEY`: the OAuth app's webhook signing key.
    pub webhook_signing_key: calendly::secrets::SigningKey,
    /// `CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS`: during a key rotation, the key being retired;
    /// deliveries signed with either verify.
    pub previous_webhook_signing_key: Option<calendly::secrets::SigningKey>,
    /// `CALENDLY_AUTH_URL`, default `https://auth.calendly.com`
    pub auth_url: Url,
    /// `CALENDLY_API_URL`, default `https://api.calendly.com`
    pub api_url: Url,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone)]
pub struct Settings {
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`; default a SQLite file under `data/`.
    pub database_url: String,
    /// `APP_PUBLIC_URL`: the public base URL used in OAuth and webhook callback URLs.
    pub public_url: Url,
    /// `LEPTOS_SITE_ADDR`: the listen address.
    pub site_addr: SocketAddr,
    /// `APP_ENCRYPTION_KEY`: 32 bytes, base64; generated into `data/` in sandbox mode only.
    pub encryption_key: EncryptionKey,
    /// Calendly's endpoints and the OAuth app. `None` at load time means sandbox mode; startup
    /// then fills it in with the built-in simulator's.
    pub calendly: Option<CalendlySettings>,
    /// No `CALENDLY_CLIENT_ID`: the built-in simulator plays Calendly.
    pub sandbox: bool,
    /// `APP_SYNC_INTERVAL_SECS`: every interval each connection gets its cheap checks (webhook
    /// subscription state, upcoming meetings still waiting for a conference link) and a polling
    /// connection its poll (default 300).
    pub sync_interval: Duration,
    /// `APP_FULL_SYNC_INTERVAL_SECS`: how often a connection with live updates re-reads its
    /// events in the sync window to catch anything a webhook missed (default 3600).
    pub full_sync_interval: Duration,
    /// `APP_WEBHOOK_TOLERANCE_SECS`: how far a delivery's signature timestamp may be from now
    /// (default 180; deduplication makes a wider window safe).
    pub webhook_tolerance_secs: i64,
    /// `APP_SESSION_TTL_SECS`: how long a sign-in lasts (default 14 days).
    pub session_ttl: Duration,
    /// `APP_LOG_FORMAT`: `pretty` (default) or `json`.
    pub log_format: LogFormat,
    /// `APP_DATA_DIR`: where the default SQLite file and the sandbox key live (default `data`).
    pub data_dir: PathBuf,
    /// `LEPTOS_SITE_ROOT`: the built site (WASM, JS, CSS), default `target/site`.
    pub site_root: String,
    /// `LEPTOS_CONFIG`: the Leptos site options file (default `Leptos.toml` in the working
    /// directory); `LEPTOS_*` variables override what it says.
    pub leptos_config: String,
    /// `APP_TRUSTED_PROXIES`: comma-separated addresses of reverse proxies whose
    /// `X-Forwarded-For` tells who the client is (default none: the peer is the client).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `APP_METRICS_TOKEN`: when set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// `APP_MAX_LIVE_STREAMS`: open live streams this instance serves at most (default 10000);
    /// each session may hold at most [`MAX_STREAMS_PER_SESSION`] of them.
    pub max_live_streams: usize,
}

/// Live streams one signed-in session may hold open at once (browser tabs).
pub const MAX_STREAMS_PER_SESSION: usize = 16;

/// `DATABASE_URL` may carry a password and the key is secret: neither is printed.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_password(&self.database_url))
            .field("public_url", &self.public_url.as_str())
            .field("site_addr", &self.site_addr)
            .field("sandbox", &self.sandbox)
            .field("calendly", &self.calendly)
            .field("sync_interval", &self.sync_interval)
            .field("full_sync_interval", &self.full_sync_interval)
            .field("webhook_tolerance_secs", &self.webhook_tolerance_secs)
            .field("session_ttl", &self.session_ttl)
            .field("log_format", &self.log_format)
            .field("data_dir", &self.data_dir)
            .field("site_root", &self.site_root)
            .field("leptos_config", &self.leptos_config)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("max_live_streams", &self.max_live_streams)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// Reads `.env` (if present) and then the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from any variable source (tests pass a map).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let data_dir = PathBuf::from(get("APP_DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = match get("DATABASE_URL") {
            Some(url)
                if url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://") =>
            {
                url
            }
            Some(url) => {
                return Err(ConfigError::Invalid {
                    var: "DATABASE_URL",
                    reason: format!("expected sqlite://… or postgres://…, got {url:?}"),
                })
            }
            None => format!("sqlite://{}/advicly.db?mode=rwc", data_dir.display()),
        };

        let public_url = parse_url(
            "APP_PUBLIC_URL",
            get("APP_PUBLIC_URL")
                .as_deref()
                .unwrap_or("http://127.0.0.1:3000"),
        )?;
        let site_addr = get("LEPTOS_SITE_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .map_err(|e| ConfigError::Invalid {
                var: "LEPTOS_SITE_ADDR",
                reason: format!("{e}"),
            })?;

        let calendly = match get("CALENDLY_CLIENT_ID") {
            None => None,
            Some(client_id) => {
                let because = "CALENDLY_CLIENT_ID is set";
                let client_secret = get("CALENDLY_CLIENT_SECRET").ok_or(ConfigError::Missing {
                    var: "CALENDLY_CLIENT_SECRET",
                    because,
                })?;
                let signing_key =
                    get("CALENDLY_WEBHOOK_SIGNING_KEY").ok_or(ConfigError::Missing {
                        var: "CALENDLY_WEBHOOK_SIGNING_KEY",
                        because,
                    })?;
                Some(CalendlySettings {
                    client_id,
                    client_secret: calendly::secrets::ClientSecret::new(client_secret),
                    webhook_signing_key: calendly::secrets::SigningKey::new(signing_key),
                    previous_webhook_signing_key: get("CALENDLY_WEBHOOK_SIGNING_KEY_PREVIOUS")
                        .map(calendly::secrets::SigningKey::new),
                    auth_url: parse_url(
                        "CALENDLY_AUTH_URL",
                        get("CALENDLY_AUTH_URL")
                            .as_deref()
                            .unwrap_or("https://auth.calendly.com"),
                    )?,
                    api_url: parse_url(
                        "CALENDLY_API_URL",
                        get("CALENDLY_API_URL")
                            .as_deref()
                            .unwrap_or("https://api.calendly.com"),
                    )?,
                })
            }
        };

        let encryption_key = match get("APP_ENCRYPTION_KEY") {
            Some(b64) => EncryptionKey::from_base64(&b64)
                .map_err(|reason| ConfigError::Invalid { var: "APP_ENCRYPTION_KEY", reason })?,
            None if calendly.is_none() => sandbox_key(&data_dir)?,
            None => {
                return Err(ConfigError::Missing {
                    var: "APP_ENCRYPTION_KEY",
                    because: "real Calendly credentials are configured (generate one with `openssl rand -base64 32`)",
                })
            }
        };

        // The real Calendly calls back over the internet: it refuses, or cannot reach, a callback
        // URL that is not public https (calendly-api.md §0). Any other Calendly (a simulator or
        // test double, wherever it runs) may call us anywhere; if it refuses a URL, the page
        // says so at connect time.
        if let Some(settings) = &calendly {
            if is_real_calendly(&settings.api_url) && !is_usable_callback_base(&public_url) {
                return Err(ConfigError::Invalid {
                    var: "APP_PUBLIC_URL",
                    reason: format!(
                        "Calendly delivers webhooks only to a public https address; {public_url} is not one \
                         (use the https address Calendly can reach this server at)"
                    ),
                });
            }
        }

        Ok(Settings {
            sandbox: calendly.is_none(),
            database_url,
            public_url,
            site_addr,
            encryption_key,
            calendly,
            sync_interval: Duration::from_secs(parse_u64(
                "APP_SYNC_INTERVAL_SECS",
                get("APP_SYNC_INTERVAL_SECS"),
                300,
            )?),
            full_sync_interval: Duration::from_secs(parse_u64(
                "APP_FULL_SYNC_INTERVAL_SECS",
                get("APP_FULL_SYNC_INTERVAL_SECS"),
                3600,
            )?),
            webhook_tolerance_secs: i64::try_from(parse_u64(
                "APP_WEBHOOK_TOLERANCE_SECS",
                get("APP_WEBHOOK_TOLERANCE_SECS"),
                calendly::webhook::DEFAULT_TOLERANCE_SECS as u64,
            )?)
            .unwrap_or(i64::MAX),
            session_ttl: Duration::from_secs(parse_u64(
                "APP_SESSION_TTL_SECS",
                get("APP_SESSION_TTL_SECS"),
                14 * 24 * 3600,
            )?),
            log_format: match get("APP_LOG_FORMAT").as_deref() {
                None | Some("pretty") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        var: "APP_LOG_FORMAT",
                        reason: format!("expected pretty or json, got {other:?}"),
                    })
                }
            },
            data_dir,
            site_root: get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
            leptos_config: get("LEPTOS_CONFIG").unwrap_or_else(|| "Leptos.toml".into()),
            trusted_proxies: parse_addresses("APP_TRUSTED_PROXIES", get("APP_TRUSTED_PROXIES"))?,
            metrics_token: get("APP_METRICS_TOKEN").filter(|t| !t.trim().is_empty()),
            max_live_streams: usize::try_from(parse_u64(
                "APP_MAX_LIVE_STREAMS",
                get("APP_MAX_LIVE_STREAMS"),
                10_000,
            )?)
            .unwrap_or(usize::MAX),
        })
    }

    pub fn is_sandbox(&self) -> bool {
        self.sandbox
    }

    /// Cookies get `Secure` when the app is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// `{APP_PUBLIC_URL}/{path}` without a doubled slash.
    pub fn public_link(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.public_url.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// `1.2.3.4, ::1` → addresses; an entry that is no IP address fails startup.
fn parse_addresses(
    var: &'static str,
    raw: Option<String>,
) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse().map_err(|_| ConfigError::Invalid {
                var,
                reason: format!("{a:?} is not an IP address"),
            })
        })
        .collect()
}

/// Calendly itself (`api.calendly.com`), as opposed to a simulator or test double.
fn is_real_calendly(api_url: &Url) -> bool {
    api_url.host_str().is_some_and(|host| {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        host == "calendly.com" || host.ends_with(".calendly.com")
    })
}

/// A base URL Calendly can deliver webhooks under: https on a public host.
fn is_usable_callback_base(url: &Url) -> bool {
    url.scheme() == "https" && crate::net::is_public_url(url)
}

fn parse_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::Invalid {
        var,
        reason: format!("{e}: {value:?}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::Invalid {
            var,
            reason: format!("expected an http(s) URL, got {value:?}"),
        });
    }
    Ok(url)
}

fn parse_u64(var: &'static str, value: Option<String>, default: u64) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid {
                var,
                reason: format!("expected a positive whole number, got {v:?}"),
            }),
        },
    }
}

/// Sandbox mode keeps its generated key in `data/` so stored tokens survive restarts.
fn sandbox_key(data_dir: &std::path::Path) -> Result<EncryptionKey, ConfigError> {
    let path = data_dir.join("sandbox-encryption.key");
    let io = |source| ConfigError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    let read = |path: &std::path::Path| -> Option<Result<EncryptionKey, ConfigError>> {
        let existing = std::fs::read_to_string(path).ok()?;
        Some(
            EncryptionKey::from_base64(existing.trim()).map_err(|reason| ConfigError::Invalid {
                var: "APP_ENCRYPTION_KEY",
                reason: format!("{}: {reason}", path.display()),
            }),
        )
    };
    if let Some(existing) = read(&path) {
        return existing;
    }
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let key = EncryptionKey::generate();
    let encoded = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
    match publish_private(&path, encoded.as_bytes()) {
        Ok(()) => Ok(key),
        // Another instance sharing this data directory published its key first: use that one,
        // so both encrypt with the same key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(&path).unwrap_or_else(|| Err(io(e)))
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a file only its owner can read (0600 on Unix: it holds the key to stored tokens) and
/// publishes it whole under `path`, never replacing one that is already there: the contents go
/// to a private temporary file first, which is then hard-linked into place (atomic).
fn publish_private(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&temp)
        .and_then(|mut file| file.write_all(contents).and_then(|()| file.sync_all()));
    let published = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    published
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join(format!("advicly-config-{}", uuid::Uuid::new_v4()));
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("APP_DATA_DIR".into())
            .or_insert(dir.display().to_string());
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn no_calendly_credentials_means_sandbox_mode_with_a_generated_key() {
        let s = settings(&[]).unwrap();
        assert!(s.is_sandbox());
        assert!(s.database_url.starts_with("sqlite://"));
        assert_eq!(s.site_addr.to_string(), "127.0.0.1:3000");
    }

    #[test]
    fn real_credentials_without_a_signing_key_fail_naming_the_variable() {
        let err = settings(&[
            ("CALENDLY_CLIENT_ID", "id"),
            ("CALENDLY_CLIENT_SECRET", "s"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("CALENDLY_WEBHOOK_SIGNING_KEY"),
            "{err}"
        );
    }

    #[test]
    fn real_credentials_without_an_encryption_key_fail_naming_the_variable() {
        let err = settings(&[
            ("CALENDLY_CLIENT_ID", "id"),
            ("CALENDLY_CLIENT_SECRET", "s"),
            ("CALENDLY_WEBHOOK_SIGNING_KEY", "k"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("APP_ENCRYPTION_KEY"), "{err}");
    }

    #[test]
    fn a_malformed_value_names_its_variable() {
        for (var, value) in [
            ("DATABASE_URL", "mysql://x"),
            ("APP_PUBLIC_URL", "not a url"),
            ("LEPTOS_SITE_ADDR", "nowhere"),
            ("APP_SYNC_INTERVAL_SECS", "soon"),
            ("APP_FULL_SYNC_INTERVAL_SECS", "-1"),
            ("APP_WEBHOOK_TOLERANCE_SECS", "0"),
            ("APP_ENCRYPTION_KEY", "c2hvcnQ="),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
    }

    fn real_calendly(public_url: &str) -> Result<Settings, ConfigError> {
        settings(&[
            ("CALENDLY_CLIENT_ID", "id"),
            ("CALENDLY_CLIENT_SECRET", "s"),
            ("CALENDLY_WEBHOOK_SIGNING_KEY", "k"),
            (
                "APP_ENCRYPTION_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ),
            ("APP_PUBLIC_URL", public_url),
        ])
    }

    #[test]
    fn real_calendly_needs_a_public_https_callback_address() {
        for bad in [
            "http://advicly.example.com",
            "https://127.0.0.1:3000",
            "https://localhost",
            "https://10.1.2.3",
            "https://192.168.0.10",
            "https://172.20.0.1",
            "https://[::1]",
            "http://127.0.0.1:3000",
        ] {
            let err = real_calendly(bad).unwrap_err();
            assert!(err.to_string().contains("APP_PUBLIC_URL"), "{bad}: {err}");
        }
        assert!(real_calendly("https://advicly.example.com").is_ok());
    }

    /// Real-looking credentials with Calendly (auth and API) at `calendly_url`, default public URL.
    fn calendly_at(calendly_url: &str) -> Result<Settings, ConfigError> {
        settings(&[
            ("CALENDLY_CLIENT_ID", "id"),
            ("CALENDLY_CLIENT_SECRET", "s"),
            ("CALENDLY_WEBHOOK_SIGNING_KEY", "k"),
            (
                "APP_ENCRYPTION_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ),
            ("CALENDLY_AUTH_URL", calendly_url),
            ("CALENDLY_API_URL", calendly_url),
        ])
    }

    #[test]
    fn a_simulator_under_any_other_name_may_call_back_to_any_address() {
        assert!(calendly_at("http://calendly-sim:9100").is_ok());
    }

    #[test]
    fn a_calendly_on_a_local_address_may_call_back_to_a_local_address() {
        let s = calendly_at("http://127.0.0.1:9100").unwrap();
        assert_eq!(s.public_url.as_str(), "http://127.0.0.1:3000/");
    }

    #[test]
    fn sync_and_signature_settings_have_documented_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.sync_interval, Duration::from_secs(300));
        assert_eq!(s.full_sync_interval, Duration::from_secs(3600));
        assert_eq!(s.webhook_tolerance_secs, 180);
        let s = settings(&[
            ("APP_WEBHOOK_TOLERANCE_SECS", "900"),
            ("APP_FULL_SYNC_INTERVAL_SECS", "7200"),
        ])
        .unwrap();
        assert_eq!(s.webhook_tolerance_secs, 900);
        assert_eq!(s.full_sync_interval, Duration::from_secs(7200));
    }

    #[test]
    fn instances_starting_together_on_one_data_directory_share_one_sandbox_key() {
        let dir = std::env::temp_dir().join(format!("advicly-race-{}", uuid::Uuid::new_v4()));
        let keys: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| sandbox_key(&dir).unwrap().as_bytes().to_vec()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            keys.windows(2).all(|w| w[0] == w[1]),
            "every instance uses the same key"
        );
    }

    #[test]
    fn settings_never_print_the_database_password() {
        let s = settings(&[(
            "DATABASE_URL",
            "postgres://advicly:hunter2@db.internal/advicly",
        )])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("db.internal"), "{printed}");
    }

    #[cfg(unix)]
    #[test]
    fn the_generated_sandbox_key_is_readable_only_by_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let s = settings(&[]).unwrap();
        let mode = std::fs::metadata(s.data_dir.join("sandbox-encryption.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }

    #[test]
    fn secure_cookies_follow_the_public_url_scheme() {
        assert!(!settings(&[]).unwrap().secure_cookies());
        assert!(settings(&[("APP_PUBLIC_URL", "https://advicly.example")])
            .unwrap()
            .secure_cookies());
    }
}
