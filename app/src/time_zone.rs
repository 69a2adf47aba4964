//! Settings: the time zone the adviser reads times in.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeZoneView {
    /// The zone times are shown in now.
    pub shown: String,
    /// The adviser's own choice; `None`: following Calendly's.
    pub own: Option<String>,
    /// The connected Calendly account's zone, if connected.
    pub calendly: Option<String>,
    pub choices: Vec<String>,
}

#[server(prefix = "/api", endpoint = "time_zone")]
pub async fn time_zone() -> Result<TimeZoneView, AppError> {
    use crate::server::{current_adviser, shown_timezone, state};
    let state = state()?;
    let adviser = current_adviser().await?;
    let connection = backend::connections::load(&state.db, adviser.id).await?;
    let mut choices: Vec<String> = backend::time_zone::choices()
        .into_iter()
        .map(str::to_owned)
        .collect();
    // A zone taken from a browser may be one the list leaves out (say `Etc/GMT+5`): it is still
    // the one selected.
    if let Some(own) = adviser.timezone.as_ref().filter(|z| !choices.contains(z)) {
        choices.insert(0, own.clone());
    }
    Ok(TimeZoneView {
        shown: shown_timezone(&adviser, connection.as_ref()),
        own: adviser.timezone.clone(),
        calendly: connection.map(|c| c.timezone).filter(|z| !z.is_empty()),
        choices,
    })
}

/// Saves the adviser's time zone; an empty value follows the Calendly account's.
#[server(prefix = "/api", endpoint = "set_time_zone")]
pub async fn set_time_zone(timezone: String) -> Result<(), AppError> {
    use crate::server::{current_adviser, state};
    let state = state()?;
    let adviser = current_adviser().await?;
    backend::accounts::set_timezone(&state.db, adviser.id, Some(&timezone))
        .await
        .map_err(AppError::from)
}

/// The "Time zone" card of Settings. `saved` is the page's save action: the page's other
/// resources rerun when it completes, so every time on the page moves to the new zone.
#[component]
pub fn TimeZoneCard(saved: ServerAction<SetTimeZone>) -> impl IntoView {
    let zone = Resource::new(move || saved.version().get(), |_| time_zone());
    view! {
        <section class="card">
            <h2>"Time zone"</h2>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match zone.await {
                        Ok(view) => view! { <TimeZoneForm view saved/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn TimeZoneForm(view: TimeZoneView, saved: ServerAction<SetTimeZone>) -> impl IntoView {
    let follow = match &view.calendly {
        Some(z) => format!("Same as my Calendly account ({z})"),
        None => "Same as my Calendly account (UTC until connected)".to_owned(),
    };
    let own = view.own.clone().unwrap_or_default();
    let result = move || match saved.value().get() {
        Some(Ok(())) => Some(("notice", "Time zone saved.".to_owned())),
        Some(Err(e)) => Some(("error", e.to_string())),
        None => None,
    };
    view! {
        <p>{format!("Times are shown in {}.", view.shown)}</p>
        <ActionForm action=saved>
            <label for="timezone">"Time zone"</label>
            <select id="timezone" name="timezone">
                <option value="" selected=own.is_empty()>{follow}</option>
                {view.choices.into_iter().map(|z| {
                    let selected = z == own;
                    view! { <option value=z.clone() selected=selected>{z.clone()}</option> }
                }).collect_view()}
            </select>
            {move || result().map(|(class, text)| view! { <p class=class role="status">{text}</p> })}
            <button type="submit" disabled=move || saved.pending().get()>"Save time zone"</button>
        </ActionForm>
    }
}
