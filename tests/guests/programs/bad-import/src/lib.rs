//! Imports `acme:missing/thing`, an interface the host does not provide (see `wit/world.wit`).

wit_bindgen::generate!({
    world: "bad-import",
    path: "wit",
    // The world imports an interface of another package, which wit-bindgen only generates
    // bindings for when asked.
    generate_all,
});

struct BadImport;

impl Guest for BadImport {
    fn call_it() -> u32 {
        acme::missing::thing::frob()
    }
}

export!(BadImport);
