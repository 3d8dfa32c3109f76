//! Build script: tells the crate which CPython it is built for.
//!
//! pyo3-ffi (`links = "python"`) publishes the interpreter it configured as
//! hex-encoded `key=value` lines in `DEP_PYTHON_PYO3_CONFIG`; we turn its
//! version into `Py_3_12`/`Py_3_13` cfgs, as pyo3-ffi does for itself, so the
//! adapter can follow C-API differences between versions. Nothing here needs
//! C, so `cc` compiles nothing yet.

fn unhex(hex: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("DEP_PYTHON_PYO3_CONFIG is not hex"),
    };
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| (digit(pair[0]) << 4) | digit(pair[1]))
        .collect()
}

fn python_minor() -> Option<u32> {
    let config = std::env::var("DEP_PYTHON_PYO3_CONFIG").ok()?;
    let text = String::from_utf8(unhex(&config)).ok()?;
    let version = text.lines().find_map(|l| l.strip_prefix("version="))?;
    version.trim().split('.').nth(1)?.parse().ok()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_PYTHON_PYO3_CONFIG");
    for minor in 11..=15 {
        println!("cargo:rustc-check-cfg=cfg(Py_3_{minor})");
    }
    let minor = python_minor().unwrap_or(11);
    for m in 11..=minor {
        println!("cargo:rustc-cfg=Py_3_{m}");
    }
}
