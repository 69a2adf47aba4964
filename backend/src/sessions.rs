//! Server-side sessions. The cookie carries a random token; the database stores only its SHA-256,
//! so a leaked database does not yield usable sessions.

use crate::accounts::{Adviser, AdviserId};
use crate::crypto::{random_token, sha256_hex};
use crate::live::LiveBus;
use crate::{Clock, Db};

/// The session cookie's name over plain http (local use, sandbox).
pub const COOKIE_NAME: &str = "advicly_session";
/// Over https: the `__Host-` prefix makes the browser refuse the cookie unless it is `Secure`,
/// for `Path=/` and without `Domain`, so a sibling subdomain cannot plant or shadow a session.
pub const SECURE_COOKIE_NAME: &str = "__Host-advicly_session";

/// The session cookie's name: prefixed when served over https.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The secret a browser holds. Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

/// Starts a new session (a new id every sign-in: no fixation). The caller first [`end`]s the
/// session the browser sent, if any, so the old id cannot be reused.
pub async fn start(
    db: &Db,
    clock: &Clock,
    adviser: AdviserId,
    ttl: std::time::Duration,
) -> Result<SessionToken, sqlx::Error> {
    let token = random_token(32);
    let now = clock.now_ms();
    sqlx::query("INSERT INTO sessions (id_hash, adviser_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(sha256_hex(&token))
        .bind(adviser.0)
        .bind(now)
        .bind(now + ttl.as_millis() as i64)
        .execute(db.pool())
        .await?;
    Ok(SessionToken(token))
}

/// Who sent a request: the adviser, and the session token their cookie carries.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub adviser: Adviser,
    pub token: SessionToken,
}

/// The one way to tell who is signed in, from a request's `Cookie` header values (routes, server
/// functions and the page guard all ask this): `None` without a cookie, or for an unknown or
/// expired session.
pub async fn signed_in<'a>(
    db: &Db,
    clock: &Clock,
    cookie_headers: impl IntoIterator<Item = &'a str>,
    secure_cookies: bool,
) -> Result<Option<SignedIn>, sqlx::Error> {
    let Some(token) = cookie_headers
        .into_iter()
        .find_map(|h| token_from_cookie_header(h, secure_cookies))
    else {
        return Ok(None);
    };
    Ok(adviser_for(db, clock, token)
        .await?
        .map(|adviser| SignedIn {
            adviser,
            token: SessionToken(token.to_owned()),
        }))
}

/// The adviser a live session belongs to; `None` for unknown or expired tokens.
pub async fn adviser_for(
    db: &Db,
    clock: &Clock,
    token: &str,
) -> Result<Option<Adviser>, sqlx::Error> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let row: Option<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT a.id, a.email, a.timezone FROM sessions s JOIN advisers a ON a.id = s.adviser_id WHERE s.id_hash = $1 AND s.expires_at > $2",
    )
    .bind(sha256_hex(token))
    .bind(clock.now_ms())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(id, email, timezone)| Adviser {
        id: AdviserId(id),
        email,
        timezone,
    }))
}

/// Ends a session; the adviser's open live streams hear of it at once (here through `live` on
/// SQLite; on PostgreSQL a trigger on `sessions` tells every instance) and re-check theirs.
pub async fn end(db: &Db, live: &LiveBus, token: &str) -> Result<(), sqlx::Error> {
    let ended: Option<(i64,)> =
        sqlx::query_as("DELETE FROM sessions WHERE id_hash = $1 RETURNING adviser_id")
            .bind(sha256_hex(token))
            .fetch_optional(db.pool())
            .await?;
    if let Some((adviser,)) = ended {
        live.session_ended(db.kind(), AdviserId(adviser));
    }
    Ok(())
}

/// When a live session ends by itself (ms since the epoch); `None` for unknown tokens.
pub async fn expires_at(db: &Db, token: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT expires_at FROM sessions WHERE id_hash = $1")
        .bind(sha256_hex(token))
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|(at,)| at))
}

/// Removes expired rows; run periodically.
pub async fn purge_expired(db: &Db, clock: &Clock) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(clock.now_ms())
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// `Set-Cookie` value for a session: HttpOnly, SameSite=Lax, Secure over https.
pub fn cookie(token: &SessionToken, ttl: std::time::Duration, secure: bool) -> String {
    format!(
        "{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        cookie_name(secure),
        token.as_str(),
        ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clearing_cookie(secure: bool) -> String {
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" }
    )
}

/// The session token from a `Cookie` request header, if any. Over https only the prefixed
/// cookie counts: an unprefixed one may have been planted by another subdomain.
pub fn token_from_cookie_header(header: &str, secure: bool) -> Option<&str> {
    let wanted = cookie_name(secure);
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        assert_eq!(
            token_from_cookie_header("a=1; advicly_session=abc; b=2", false),
            Some("abc")
        );
        assert_eq!(token_from_cookie_header("a=1", false), None);
    }

    #[test]
    fn over_https_only_the_host_prefixed_cookie_is_a_session() {
        let planted = "advicly_session=planted; __Host-advicly_session=real";
        assert_eq!(token_from_cookie_header(planted, true), Some("real"));
        assert_eq!(
            token_from_cookie_header("advicly_session=planted", true),
            None
        );
        let c = cookie(
            &SessionToken("t".into()),
            std::time::Duration::from_secs(60),
            true,
        );
        assert!(c.starts_with("__Host-advicly_session=t; Path=/;") && !c.contains("Domain"));
        assert!(clearing_cookie(true).starts_with("__Host-advicly_session=;"));
    }

    #[test]
    fn session_cookies_are_http_only_and_lax_and_secure_over_https() {
        let c = cookie(
            &SessionToken("t".into()),
            std::time::Duration::from_secs(60),
            true,
        );
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(!cookie(
            &SessionToken("t".into()),
            std::time::Duration::from_secs(60),
            false
        )
        .contains("Secure"));
    }
}
