//! Hydrates the server-rendered document in the browser.
#![recursion_limit = "512"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // Lets browser tests (and curious people) tell that the page is interactive.
    let _ = js_sys::Reflect::set(
        &js_sys::global(),
        &"__advicly_hydrated".into(),
        &true.into(),
    );
}
