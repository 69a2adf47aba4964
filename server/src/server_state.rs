//! The axum state: Leptos' options for rendering plus Advicly's own state.

use axum::extract::FromRef;
use backend::AppState;
use leptos::prelude::LeptosOptions;

#[derive(Clone, FromRef)]
pub struct ServerState {
    pub leptos_options: LeptosOptions,
    pub app: AppState,
}
