//! Advicly's pages, routes and server functions. Compiled twice: with `ssr` into the server
//! (rendering + server functions) and with `hydrate` into the WASM front end.
#![recursion_limit = "512"]

pub mod auth;
mod browser;
pub mod connections;
pub mod error;
mod layout;
pub mod meetings;
pub mod sandbox;
#[cfg(feature = "ssr")]
pub mod server;
pub mod time_zone;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

use crate::auth::{SignInPage, SignUpPage};
use crate::connections::CalendarConnectionsPage;
use crate::layout::SignedInLayout;
use crate::meetings::MeetingsPage;
use crate::sandbox::SandboxPage;

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.ico"/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Advicly"/>
        <Router>
            <Routes fallback=|| view! { <main class="page"><h1>"Page not found"</h1><a href="/meetings">"Go to Meetings"</a></main> }>
                <Route path=path!("/signup") view=SignUpPage/>
                <Route path=path!("/login") view=SignInPage/>
                <ParentRoute path=path!("") view=SignedInLayout>
                    <Route path=path!("/meetings") view=MeetingsPage/>
                    <Route path=path!("/settings/calendar") view=CalendarConnectionsPage/>
                    <Route path=path!("/sandbox") view=SandboxPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
