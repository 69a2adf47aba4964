//! Adviser accounts: sign-up with validation, sign-in that neither reveals whether an email
//! exists nor allows unlimited guessing.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

use crate::net::ClientAddress;
use crate::sign_in_throttle::{self, Failures};
use crate::{Clock, Db};

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdviserId(pub i64);

/// As stored (`user_id` columns), for `#[sqlx(try_from = "i64")]`.
impl From<i64> for AdviserId {
    fn from(id: i64) -> Self {
        AdviserId(id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adviser {
    pub id: AdviserId,
    pub email: String,
    /// The adviser's own time zone, if they have one ([`crate::time_zone`]).
    pub timezone: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Enter a valid email address, like name@example.com.")]
    InvalidEmail,
    #[error("Use a password of at least {MIN_PASSWORD_LEN} characters.")]
    PasswordTooShort,
    #[error("Use a password of at most {MAX_PASSWORD_LEN} characters.")]
    PasswordTooLong,
    #[error("An account with this email already exists. Sign in instead.")]
    EmailTaken,
    #[error("Email or password is incorrect.")]
    InvalidCredentials,
    #[error("Too many failed sign-in attempts. Try again in {wait}.")]
    Throttled { wait: String },
    #[error("Choose a time zone from the list, like Europe/London.")]
    UnknownTimeZone,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// Every hashing slot is taken (a flood of sign-ins): answered 503 instead of queueing.
    #[error("Signing in is busy right now. Please try again in a moment.")]
    Busy,
}

/// Argon2id takes ~19 MiB and tens of milliseconds per attempt: at most this many run at once,
/// so a flood of sign-in or sign-up requests cannot take the memory and both cores.
pub const MAX_CONCURRENT_HASHES: usize = 4;
/// How long an attempt waits for a hashing slot before it is answered "busy" (503).
const HASH_SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_HASHES);

/// Runs one Argon2 computation in a hashing slot, off the async runtime.
async fn with_hashing_slot<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountError> {
    let _slot = tokio::time::timeout(HASH_SLOT_WAIT, HASHING.acquire())
        .await
        .map_err(|_| AccountError::Busy)?
        .map_err(|_| AccountError::Busy)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AccountError::Hashing(e.to_string()))
}

/// An email address, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let email = raw.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(AccountError::InvalidEmail)?;
        let valid = email.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !email.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';')
            });
        if valid {
            Ok(Self(email))
        } else {
            Err(AccountError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate_password(password: &str) -> Result<(), AccountError> {
    match password.chars().count() {
        n if n < MIN_PASSWORD_LEN => Err(AccountError::PasswordTooShort),
        n if n > MAX_PASSWORD_LEN => Err(AccountError::PasswordTooLong),
        _ => Ok(()),
    }
}

/// Argon2id with the crate's recommended parameters, in a hashing slot.
async fn hash_password(password: String) -> Result<String, AccountError> {
    with_hashing_slot(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Hashing(e.to_string()))
    })
    .await?
}

async fn password_matches(password: String, hash: String) -> Result<bool, AccountError> {
    with_hashing_slot(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
}

/// A real hash of a random password: verifying against it costs the same as for a real account,
/// so response time does not tell whether an email is registered.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(crate::crypto::random_token(16).as_bytes(), &salt)
            .expect("hashing")
            .to_string()
    })
}

pub async fn sign_up(
    db: &Db,
    clock: &Clock,
    email: &str,
    password: &str,
) -> Result<Adviser, AccountError> {
    let email = Email::parse(email)?;
    validate_password(password)?;
    let hash = hash_password(password.to_owned()).await?;
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "INSERT INTO advisers (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(email.as_str())
    .bind(&hash)
    .bind(clock.now_ms())
    .fetch_one(db.pool())
    .await;
    match inserted {
        Ok((id,)) => Ok(Adviser {
            id: AdviserId(id),
            email: email.0,
            timezone: None,
        }),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AccountError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

/// Checks credentials. Unknown email and wrong password give the same error after the same work.
/// Failures slow further attempts from the same client ([`crate::sign_in_throttle`]); a client
/// that has not failed for this email is not held back by anyone else's failures.
pub async fn sign_in(
    db: &Db,
    clock: &Clock,
    email: &str,
    password: &str,
    client: &ClientAddress,
) -> Result<Adviser, AccountError> {
    let Ok(email) = Email::parse(email) else {
        return Err(AccountError::InvalidCredentials);
    };
    let now = clock.now_ms();
    let client = client.throttle_key();
    // The attempt is recorded as a failure before the password is checked, so parallel guesses
    // see each other; a success, or an attempt refused for waiting, removes it again.
    let (attempt,): (i64,) = sqlx::query_as(
        "INSERT INTO sign_in_failures (email, client, at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(email.as_str())
    .bind(&client)
    .bind(now)
    .fetch_one(db.pool())
    .await?;
    let since = now - sign_in_throttle::WINDOW_MS;
    let (count, last_at): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(at) FROM sign_in_failures WHERE email = $1 AND client = $2 AND at > $3 AND id <> $4",
    )
    .bind(email.as_str())
    .bind(&client)
    .bind(since)
    .bind(attempt)
    .fetch_one(db.pool())
    .await?;
    let per_email = Failures { count, last_at };
    let (count, last_at): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(at) FROM sign_in_failures WHERE client = $1 AND at > $2 AND id <> $3",
    )
    .bind(&client)
    .bind(since)
    .bind(attempt)
    .fetch_one(db.pool())
    .await?;
    let per_client = Failures { count, last_at };
    if let Some(wait_ms) = sign_in_throttle::must_wait(per_email, per_client, now) {
        sqlx::query("DELETE FROM sign_in_failures WHERE id = $1")
            .bind(attempt)
            .execute(db.pool())
            .await?;
        return Err(AccountError::Throttled {
            wait: sign_in_throttle::describe_wait(wait_ms),
        });
    }

    let row: Option<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT id, password_hash, timezone FROM advisers WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(db.pool())
            .await?;
    let hash = row
        .as_ref()
        .map(|(_, h, _)| h.clone())
        .unwrap_or_else(|| decoy_hash().to_owned());
    let ok = password_matches(password.to_owned(), hash).await?;
    match row {
        Some((id, _, timezone)) if ok => {
            sqlx::query("DELETE FROM sign_in_failures WHERE email = $1 AND client = $2")
                .bind(email.as_str())
                .bind(&client)
                .execute(db.pool())
                .await?;
            Ok(Adviser {
                id: AdviserId(id),
                email: email.0,
                timezone,
            })
        }
        _ => {
            // The wait runs from when the failure was known, not from when the attempt began
            // (hashing may have queued for a slot).
            sqlx::query("UPDATE sign_in_failures SET at = $1 WHERE id = $2")
                .bind(clock.now_ms())
                .bind(attempt)
                .execute(db.pool())
                .await?;
            Err(AccountError::InvalidCredentials)
        }
    }
}

/// Sets the adviser's own time zone (`None`: follow Calendly's).
pub async fn set_timezone(
    db: &Db,
    adviser: AdviserId,
    timezone: Option<&str>,
) -> Result<(), AccountError> {
    let zone = match timezone.map(str::trim).filter(|z| !z.is_empty()) {
        None => None,
        Some(name) => match crate::time_zone::parse(name) {
            Some(tz) => Some(tz.name()),
            None => return Err(AccountError::UnknownTimeZone),
        },
    };
    sqlx::query("UPDATE advisers SET timezone = $1 WHERE id = $2")
        .bind(zone)
        .bind(adviser.0)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Takes the browser's time zone for a new adviser (at sign-up); a zone already set is never
/// overwritten, and an unknown name is ignored. (No zone means "same as my Calendly account".)
pub async fn adopt_browser_timezone(
    db: &Db,
    adviser: AdviserId,
    browser: Option<&str>,
) -> Result<(), sqlx::Error> {
    let Some(tz) = browser.and_then(crate::time_zone::parse) else {
        return Ok(());
    };
    sqlx::query("UPDATE advisers SET timezone = $1 WHERE id = $2 AND timezone IS NULL")
        .bind(tz.name())
        .bind(adviser.0)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Forgets failed sign-ins older than the throttling window (run periodically).
pub async fn purge_old_failures(db: &Db, clock: &Clock) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sign_in_failures WHERE at <= $1")
        .bind(clock.now_ms() - sign_in_throttle::WINDOW_MS)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn when_every_hashing_slot_is_taken_an_attempt_is_answered_busy_not_queued() {
        // The decoy is a real argon2id hash, computed once; not part of what is measured.
        let decoy = decoy_hash().to_owned();
        let held = HASHING
            .acquire_many(MAX_CONCURRENT_HASHES as u32)
            .await
            .unwrap();
        let result = password_matches("x".repeat(12), decoy.clone()).await;
        assert!(matches!(result, Err(AccountError::Busy)), "{result:?}");
        drop(held);
        assert!(matches!(
            password_matches("x".repeat(12), decoy).await,
            Ok(false)
        ));
    }

    #[test]
    fn emails_are_normalised_and_malformed_ones_rejected() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@@example.com",
            "ann@.com",
            "ann@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn short_and_overlong_passwords_are_rejected() {
        assert!(matches!(
            validate_password("short"),
            Err(AccountError::PasswordTooShort)
        ));
        assert!(matches!(
            validate_password(&"x".repeat(300)),
            Err(AccountError::PasswordTooLong)
        ));
        assert!(validate_password("long enough pass").is_ok());
    }
}
