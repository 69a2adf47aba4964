//! The Meetings page.

use leptos::prelude::*;
use leptos_router::components::A;

/// `/meetings`
#[component]
pub fn MeetingsPage() -> impl IntoView {
    view! {
        <h1>"Meetings"</h1>
        <div class="empty">
            <p>"No meetings yet."</p>
            <p>"Connect your Calendly account and meetings booked with you will appear here as they happen."</p>
            <A href="/settings/calendar">"Set up your Calendly connection"</A>
        </div>
    }
}
