//! `GET/POST /oauth/authorize` (calendly-api.md §1.2): validates the request, shows a small
//! consent page ("Allow" / "Deny"), and redirects back with a code or `error=access_denied`.
//!
//! The page asks for a name and email and signs in as (or creates) that Calendly user: this is
//! how a person uses sandbox mode in a browser. Who is signed in is bound to the browser, never
//! global: signing in sets the simulator's own `calendly_sim_session` cookie (a random 32-byte
//! token, HttpOnly, SameSite=Lax, Path=/), and the state maps that token to the user. A browser
//! coming back with its cookie is shown "Signed in as …" and may Allow without retyping.
//!
//! An account created from the page belongs to the browser that created it: another browser
//! typing its email is refused. Users created by tests or programs (`create_user`,
//! `POST /_sim/users`) may be claimed by typing their email from any browser. A browser with no
//! session that gives no email consents as the preset test user (`set_consent_user`), if any.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use url::Url;

use crate::config::random_hex;
use crate::errors::AuthorizeError;
use crate::scopes::GrantedScopes;
use crate::state::{CreatedFrom, State as SimState};
use crate::users::{NewUser, Plan, Role, SimUser};
use crate::Simulator;

/// The simulator's own cookie naming this browser's consent-page session.
pub(crate) const SESSION_COOKIE: &str = "calendly_sim_session";

/// Shown when a browser types the email of an account another browser created on this page.
pub(crate) const OTHER_BROWSERS_ACCOUNT: &str = "That Calendly test account is signed in from \
another browser. Use a different email to create your own test account.";

const SIGN_IN_FIRST: &str = "Enter your name and email to sign in to Calendly.";

/// The authorize parameters we echo through the consent form.
const FORWARDED: [&str; 7] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// An authorize request that passed validation.
struct Authorize {
    params: HashMap<String, String>,
    redirect: Url,
    scopes: GrantedScopes,
    code_challenge: Option<String>,
}

impl Authorize {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

fn validate(sim: &Simulator, params: HashMap<String, String>) -> Result<Authorize, AuthorizeError> {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if get("client_id") != Some(sim.config().client_id.as_str()) {
        return Err(AuthorizeError::INVALID_CLIENT);
    }
    let redirect_uri = get("redirect_uri").ok_or(AuthorizeError::INVALID_REDIRECT_URI)?;
    let registered = &sim.config().redirect_uris;
    if !registered.is_empty() && !registered.iter().any(|r| r == redirect_uri) {
        return Err(AuthorizeError::INVALID_REDIRECT_URI);
    }
    let redirect = Url::parse(redirect_uri)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none())
        .ok_or(AuthorizeError::INVALID_REDIRECT_URI)?;
    if get("response_type") != Some("code") {
        return Err(AuthorizeError::UNSUPPORTED_RESPONSE_TYPE);
    }
    let scopes = GrantedScopes::parse(get("scope")).ok_or(AuthorizeError::INVALID_SCOPE)?;
    let code_challenge = get("code_challenge").map(String::from);
    if code_challenge.is_some() && get("code_challenge_method") != Some("S256") {
        return Err(AuthorizeError::INVALID_CODE_CHALLENGE_METHOD);
    }
    Ok(Authorize {
        params,
        redirect,
        scopes,
        code_challenge,
    })
}

/// `GET /oauth/authorize`: the consent page.
#[tracing::instrument(skip_all)]
pub(crate) async fn show(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let cookie = session_cookie(&headers);
    match validate(&sim, params) {
        Ok(request) => consent_page(&sim, cookie.as_deref(), &request, None, StatusCode::OK),
        Err(error) => error_page(error),
    }
}

/// `POST /oauth/authorize`: the person's decision (`decision=allow|deny`, plus `name`/`email`
/// when signing in from the page).
#[tracing::instrument(skip_all)]
pub(crate) async fn decide(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let cookie = session_cookie(&headers);
    let form: HashMap<String, String> = match body {
        Ok(body) => url::form_urlencoded::parse(&body).into_owned().collect(),
        Err(_) => HashMap::new(),
    };
    let decision = form.get("decision").cloned().unwrap_or_default();
    let name = form
        .get("name")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let email = form
        .get("email")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let timezone = browser_timezone(form.get("timezone").map(String::as_str));
    let request = match validate(&sim, form) {
        Ok(request) => request,
        Err(error) => return error_page(error),
    };
    match decision.as_str() {
        "deny" => {
            let denied = AuthorizeError::ACCESS_DENIED;
            redirect_back(
                &request,
                &[
                    ("error", denied.error),
                    ("error_description", denied.description),
                ],
            )
        }
        "allow" => {
            let signed_in = match sign_in(&sim, cookie.as_deref(), &name, &email, &timezone) {
                Ok(signed_in) => signed_in,
                Err(notice) => {
                    return consent_page(
                        &sim,
                        cookie.as_deref(),
                        &request,
                        Some(&notice),
                        StatusCode::BAD_REQUEST,
                    )
                }
            };
            let redirect_uri = request
                .param("redirect_uri")
                .unwrap_or_default()
                .to_string();
            let code = sim.create_code(
                &signed_in.user,
                &redirect_uri,
                &request.scopes,
                request.code_challenge.clone(),
            );
            let mut response = redirect_back(&request, &[("code", &code)]);
            if let Some(token) = &signed_in.new_session {
                let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax");
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        _ => consent_page(
            &sim,
            cookie.as_deref(),
            &request,
            Some("Choose Allow or Deny."),
            StatusCode::BAD_REQUEST,
        ),
    }
}

/// The `calendly_sim_session` cookie the browser sent, if any.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.trim() == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// The browser's session token, if the simulator issued it (unknown tokens count as none).
fn known_session(st: &SimState, cookie: Option<&str>) -> Option<String> {
    cookie
        .filter(|token| st.consent_sessions.contains_key(*token))
        .map(String::from)
}

/// The user signed in from this browser (by its session cookie), if any.
fn session_user(st: &SimState, cookie: Option<&str>) -> Option<String> {
    let token = known_session(st, cookie)?;
    st.consent_sessions
        .get(&token)
        .filter(|uuid| st.users.contains_key(*uuid))
        .cloned()
}

/// Who consents, and the session token to set as a cookie when the browser had none.
struct SignedIn {
    user: String,
    new_session: Option<String>,
}

/// The consenting user: the one typed into the form (found or created, and bound to this
/// browser's session), else the one this browser's session is signed in as, else (a browser
/// without a session) the preset test user. Never changes the preset user.
fn sign_in(
    sim: &Simulator,
    cookie: Option<&str>,
    name: &str,
    email: &str,
    timezone: &str,
) -> Result<SignedIn, String> {
    // One lock for the lookup, the ownership check, the creation and the binding.
    let mut st = sim.state();
    let session = known_session(&st, cookie);
    if email.is_empty() {
        if let Some(user) = session_user(&st, cookie) {
            return Ok(SignedIn {
                user,
                new_session: None,
            });
        }
        if session.is_some() {
            return Err(SIGN_IN_FIRST.to_string());
        }
        return st
            .consent_user
            .clone()
            .map(|user| SignedIn {
                user,
                new_session: None,
            })
            .ok_or_else(|| SIGN_IN_FIRST.to_string());
    }
    let token = session.clone().unwrap_or_else(|| random_hex(32));
    let user = match st.user_by_email(email) {
        Some(existing) => match &existing.created_from {
            CreatedFrom::ConsentPage { session: owner } if session.as_ref() != Some(owner) => {
                return Err(OTHER_BROWSERS_ACCOUNT.to_string());
            }
            _ => existing.uuid.clone(),
        },
        None => {
            sim.insert_user(
                &mut st,
                NewUser {
                    name: name.to_string(),
                    email: email.to_string(),
                    organization: None,
                    plan: Plan::Standard,
                    role: Role::Owner,
                    timezone: timezone.to_string(),
                },
                CreatedFrom::ConsentPage {
                    session: token.clone(),
                },
            )
            .map_err(|e| e.to_string())?
            .uuid
        }
    };
    st.consent_sessions.insert(token.clone(), user.clone());
    Ok(SignedIn {
        user,
        new_session: session.is_none().then_some(token),
    })
}

/// The zone a new test account gets: the browser's (the consent page fills it in from
/// `Intl.DateTimeFormat`), like a Calendly account made in that browser; UTC when absent or not
/// shaped like an IANA name.
fn browser_timezone(raw: Option<&str>) -> String {
    match raw.map(str::trim) {
        Some(z)
            if !z.is_empty()
                && z.len() <= 64
                && z.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)) =>
        {
            z.to_string()
        }
        _ => "UTC".to_string(),
    }
}

/// 302 to the redirect URI with `extra` and the echoed `state`.
fn redirect_back(request: &Authorize, extra: &[(&str, &str)]) -> Response {
    let mut url = request.redirect.clone();
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in extra {
            query.append_pair(k, v);
        }
        if let Some(state) = request.param("state").filter(|s| !s.is_empty()) {
            query.append_pair("state", state);
        }
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => error_page(AuthorizeError::INVALID_REDIRECT_URI),
    }
}

fn consent_page(
    sim: &Simulator,
    cookie: Option<&str>,
    request: &Authorize,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    // Separate statements: the state guard must be released before `sim.user` locks again.
    let (session, session_user, preset) = {
        let st = sim.state();
        (
            known_session(&st, cookie),
            session_user(&st, cookie),
            st.consent_user.clone(),
        )
    };
    let signed_in = session_user.and_then(|id| sim.user(&id));
    // Only a browser without a session may fall back to the preset test user.
    let preset: Option<SimUser> = match session {
        None => preset.and_then(|id| sim.user(&id)),
        Some(_) => None,
    };
    let hidden: String = FORWARDED
        .iter()
        .filter_map(|k| request.param(k).map(|v| (k, v)))
        .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape(v)))
        .collect();
    let scopes = match &request.scopes.set {
        None => "<li>Full access to your Calendly account (legacy <code>default</code> scope)</li>"
            .to_string(),
        Some(set) => set
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", escape(s)))
            .collect(),
    };
    let who = match &signed_in {
        Some(user) => format!(
            r#"<p>Signed in to Calendly as <strong>{}</strong> &lt;{}&gt;.</p>
<details><summary>Use another Calendly account</summary>
<label>Name <input name="name" autocomplete="name"></label>
<label>Email <input name="email" type="email" autocomplete="email"></label></details>"#,
            escape(&user.name),
            escape(&user.email)
        ),
        None => {
            let (required, preset) = match &preset {
                Some(user) => (
                    "",
                    format!(
                        r#"
<p class="preset">Test preset: leave the email empty to continue as <strong>{}</strong> &lt;{}&gt;.</p>"#,
                        escape(&user.name),
                        escape(&user.email)
                    ),
                ),
                None => (" required", String::new()),
            };
            format!(
                r#"<p>Sign in to Calendly (sandbox): a new account is created if the email is new.</p>
<label>Name <input name="name" autocomplete="name"{required}></label>
<label>Email <input name="email" type="email" autocomplete="email"{required}></label>{preset}"#
            )
        }
    };
    let notice = notice
        .map(|n| format!(r#"<p class="notice" role="alert">{}</p>"#, escape(n)))
        .unwrap_or_default();
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize application – Calendly (simulator)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}
label{{display:block;margin:.6rem 0}}input[name]{{display:block;width:100%;padding:.4rem}}
button{{padding:.5rem 1.2rem;margin-right:.5rem}}.notice{{color:#b00020}}</style></head>
<body><h1>Authorize application</h1>
<p>An application (client <code>{client}</code>) would like to use your Calendly account.</p>
<p>It asks for:</p><ul>{scopes}</ul>
{notice}
<form method="post" action="/oauth/authorize">{hidden}
<input type="hidden" name="timezone" id="browser-timezone" value="">
{who}
<p><button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></p>
</form>
<script>document.getElementById("browser-timezone").value=Intl.DateTimeFormat().resolvedOptions().timeZone||"";</script>
</body></html>"#,
        client = escape(request.param("client_id").unwrap_or_default()),
    );
    (status, Html(body)).into_response()
}

fn error_page(error: AuthorizeError) -> Response {
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>An error has occurred – Calendly (simulator)</title></head>
<body><h1>An error has occurred</h1><p id="error" data-error="{code}">{description}</p></body></html>"#,
        code = error.error,
        description = escape(error.description),
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

fn escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
