//! The sign-up and sign-in pages.

use leptos::prelude::*;
use leptos_router::components::A;

use super::{SignIn, SignUp};
use crate::error::AppError;

/// The browser's time zone, sent with the sign-up form once the page has hydrated: a new
/// account shows times in it (changeable in Settings).
#[component]
fn BrowserTimeZone() -> impl IntoView {
    let (zone, set_zone) = signal(String::new());
    Effect::new(move |_| {
        if let Some(z) = crate::browser::time_zone() {
            set_zone.set(z);
        }
    });
    view! { <input type="hidden" name="timezone" prop:value=move || zone.get()/> }
}

/// Email and password fields; "Show password" works once the page has hydrated.
#[component]
fn CredentialsFields(#[prop(into)] password_autocomplete: String) -> impl IntoView {
    let (show, set_show) = signal(false);
    view! {
        <label for="email">"Email"</label>
        <input id="email" type="email" name="email" autocomplete="username" required/>
        <label for="password">"Password"</label>
        <div class="password-row">
            <input
                id="password"
                name="password"
                type=move || if show.get() { "text" } else { "password" }
                autocomplete=password_autocomplete
                required
            />
            <button
                type="button"
                class="secondary"
                aria-pressed=move || show.get().to_string()
                on:click=move |_| set_show.update(|s| *s = !*s)
            >
                {move || if show.get() { "Hide password" } else { "Show password" }}
            </button>
        </div>
    }
}

fn error_text(result: Option<Result<(), AppError>>) -> Option<String> {
    match result {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    }
}

/// `/signup`
#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    view! {
        <section class="auth-card">
            <h1>"Create your Advicly account"</h1>
            <ActionForm action=action>
                <BrowserTimeZone/>
                <CredentialsFields password_autocomplete="new-password"/>
                <p class="hint">"At least 10 characters."</p>
                <Show when=move || error_text(action.value().get()).is_some()>
                    <p class="error" role="alert">{move || error_text(action.value().get())}</p>
                </Show>
                <button type="submit" disabled=move || action.pending().get()>"Sign up"</button>
            </ActionForm>
            <p>"Already have an account? " <A href="/login">"Sign in"</A></p>
        </section>
    }
}

/// `/login`
#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    view! {
        <section class="auth-card">
            <h1>"Sign in to Advicly"</h1>
            <ActionForm action=action>
                <CredentialsFields password_autocomplete="current-password"/>
                <Show when=move || error_text(action.value().get()).is_some()>
                    <p class="error" role="alert">{move || error_text(action.value().get())}</p>
                </Show>
                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
            <p>"New to Advicly? " <A href="/signup">"Create an account"</A></p>
        </section>
    }
}
