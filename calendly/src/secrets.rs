//! Secrets handed to or received from Calendly.
//!
//! They deliberately implement neither `Serialize` nor `Display`, and `Debug` prints only the type
//! name, so a stray `{:?}` or `tracing` field can never leak one. Read the value with
//! [`expose_secret`](AccessToken::expose_secret) at the single place that needs it.

use std::fmt;

macro_rules! secret {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: String) -> Self {
                Self(value)
            }

            /// The secret itself. Call only where the value is sent or stored encrypted.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }
    };
}

secret!(
    /// An OAuth access token (a JWT, valid for two hours) or a personal access token.
    AccessToken
);
secret!(
    /// A single-use OAuth refresh token: every successful refresh returns a new one.
    RefreshToken
);
secret!(
    /// The key Calendly signs webhook deliveries with (used as UTF-8 bytes, never decoded).
    SigningKey
);
secret!(
    /// The OAuth application's client secret.
    ClientSecret
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_nothing_secret() {
        let token = AccessToken::new("eyJhbGciOiJIUzI1NiJ9.secret".into());
        assert_eq!(format!("{token:?}"), "AccessToken(***)");
        assert_eq!(
            format!("{:?}", RefreshToken::new("r".into())),
            "RefreshToken(***)"
        );
        assert_eq!(
            format!("{:?}", SigningKey::new("k".into())),
            "SigningKey(***)"
        );
        assert_eq!(
            format!("{:?}", ClientSecret::new("c".into())),
            "ClientSecret(***)"
        );
        assert_eq!(token.expose_secret(), "eyJhbGciOiJIUzI1NiJ9.secret");
    }
}
