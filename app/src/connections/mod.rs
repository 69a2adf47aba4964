//! Settings → Calendar Connections.

use leptos::prelude::*;

/// `/settings/calendar`
#[component]
pub fn CalendarConnectionsPage() -> impl IntoView {
    view! {
        <p class="breadcrumb">"Settings"</p>
        <h1>"Calendar Connections"</h1>
        <div class="empty">
            <p>"No calendar is connected yet."</p>
        </div>
    }
}
