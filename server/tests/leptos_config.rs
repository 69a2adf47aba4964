//! `Leptos.toml` is what the deployed server reads; cargo-leptos builds from the
//! `[[workspace.metadata.leptos]]` table in Cargo.toml. Where both hold a value it must be the
//! same, and the server's built-in fallback must match the file.

use std::path::Path;

fn root(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file)).unwrap()
}

#[test]
fn leptos_toml_and_cargo_leptos_metadata_agree() {
    let file =
        leptos::config::get_config_from_str(&root("Leptos.toml")).expect("Leptos.toml parses");
    let cargo: toml::Table = root("Cargo.toml").parse().unwrap();
    let meta = &cargo["workspace"]["metadata"]["leptos"][0];
    let text = |key: &str| {
        meta[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in Cargo.toml"))
    };
    assert_eq!(&*file.output_name, text("name"), "output name");
    assert_eq!(&*file.site_root, text("site-root"), "site root");
    assert_eq!(&*file.site_pkg_dir, text("site-pkg-dir"), "pkg dir");
    assert_eq!(
        file.site_addr.to_string(),
        text("site-addr"),
        "site address"
    );
    assert_eq!(
        i64::from(file.reload_port),
        meta["reload-port"].as_integer().unwrap(),
        "reload port"
    );
}

#[test]
fn the_servers_built_in_site_options_are_those_of_leptos_toml() {
    let file = leptos::config::get_config_from_str(&root("Leptos.toml")).unwrap();
    assert_eq!(&*file.output_name, server::startup::OUTPUT_NAME);
    assert_eq!(&*file.site_pkg_dir, server::startup::SITE_PKG_DIR);
}
