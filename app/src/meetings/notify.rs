//! Opt-in browser notifications: when a new booking arrives while the Meetings page is in the
//! background, the browser shows it. Off until the adviser turns it on (the browser then asks
//! for permission); the choice is kept in this browser only.

use std::collections::HashSet;

use leptos::prelude::*;

use super::MeetingView;

/// New bookings worth a notification: meetings stored after every one shown before (ids grow
/// with each new booking), so one that merely scrolls into the list is not announced; neither
/// canceled nor moved here by a reschedule.
pub fn new_bookings<'a>(before: &HashSet<i64>, now: &'a [MeetingView]) -> Vec<&'a MeetingView> {
    let newest_before = before.iter().copied().max().unwrap_or(i64::MAX);
    now.iter()
        .filter(|m| m.id > newest_before && !m.canceled && m.rescheduled_from.is_none())
        .collect()
}

/// Whether notifications are on in this browser (kept in `localStorage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum Alerts {
    /// Not offered yet (before hydration, or the browser has no notifications).
    Unsupported,
    Off,
    On,
    /// The browser refused permission; only its site settings can change that.
    Blocked,
}

/// The toggle, and the signal the page checks before notifying.
#[component]
pub fn NotifyToggle(alerts: RwSignal<Alerts>) -> impl IntoView {
    Effect::new(move |_| alerts.set(browser::current()));
    let turn_on = move |_| browser::turn_on(alerts);
    let turn_off = move |_| {
        browser::remember(false);
        alerts.set(Alerts::Off);
    };
    view! {
        {move || match alerts.get() {
            Alerts::Unsupported => None,
            Alerts::Off => Some(view! {
                <button type="button" class="secondary" on:click=turn_on>"Notify me of new bookings"</button>
            }.into_any()),
            Alerts::On => Some(view! {
                <span class="meta">"Notifications on " <button type="button" class="link" on:click=turn_off>"Turn off"</button></span>
            }.into_any()),
            Alerts::Blocked => Some(view! {
                <span class="meta">"Notifications are blocked in this browser's site settings."</span>
            }.into_any()),
        }}
    }
}

/// Shows "New booking" notifications for `meetings` while the page is hidden.
pub fn announce(meetings: &[&MeetingView]) {
    for m in meetings.iter().take(3) {
        let who = m
            .invitees
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        browser::show(
            &format!("New booking: {}", m.title),
            &format!("{who} · {}", m.when),
        );
    }
}

/// Whether the page is in the background (another tab, minimised).
pub fn page_hidden() -> bool {
    browser::hidden()
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;
    use web_sys::{Notification, NotificationOptions, NotificationPermission};

    use super::Alerts;

    const KEY: &str = "advicly.notify";

    fn supported() -> bool {
        js_sys::Reflect::has(&window(), &"Notification".into()).unwrap_or(false)
    }

    pub fn current() -> Alerts {
        if !supported() {
            return Alerts::Unsupported;
        }
        match Notification::permission() {
            NotificationPermission::Denied => Alerts::Blocked,
            NotificationPermission::Granted if remembered() => Alerts::On,
            _ => Alerts::Off,
        }
    }

    fn remembered() -> bool {
        window()
            .local_storage()
            .ok()
            .flatten()
            .and_then(|s| s.get_item(KEY).ok().flatten())
            .is_some_and(|v| v == "on")
    }

    pub fn remember(on: bool) {
        if let Some(storage) = window().local_storage().ok().flatten() {
            let _ = if on {
                storage.set_item(KEY, "on")
            } else {
                storage.remove_item(KEY)
            };
        }
    }

    pub fn turn_on(alerts: RwSignal<Alerts>) {
        let Ok(asked) = Notification::request_permission() else {
            alerts.set(Alerts::Blocked);
            return;
        };
        let answered: Closure<dyn FnMut(JsValue)> = Closure::once(move |answer: JsValue| {
            if answer.as_string().as_deref() == Some("granted") {
                remember(true);
                alerts.set(Alerts::On);
            } else {
                alerts.set(current());
            }
        });
        let _ = asked.then(&answered);
        answered.forget();
    }

    pub fn show(title: &str, body: &str) {
        if current() != Alerts::On {
            return;
        }
        let options = NotificationOptions::new();
        options.set_body(body);
        options.set_tag("advicly-new-booking");
        let _ = Notification::new_with_options(title, &options);
    }

    pub fn hidden() -> bool {
        document().hidden()
    }
}

#[cfg(not(feature = "hydrate"))]
mod browser {
    use leptos::prelude::RwSignal;

    use super::Alerts;

    pub fn current() -> Alerts {
        Alerts::Unsupported
    }
    pub fn remember(_on: bool) {}
    pub fn turn_on(_alerts: RwSignal<Alerts>) {}
    pub fn show(_title: &str, _body: &str) {}
    pub fn hidden() -> bool {
        false
    }
}
