//! The few browser APIs the pages use, as plain functions (nothing on the server: effects that
//! call them run only in the browser).

/// The browser's IANA time zone ("Europe/London"), from `Intl.DateTimeFormat`.
pub fn time_zone() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        let options =
            js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
                .resolved_options();
        js_sys::Reflect::get(&options, &"timeZone".into())
            .ok()?
            .as_string()
            .filter(|z| !z.is_empty())
    }
    #[cfg(not(feature = "hydrate"))]
    None
}
