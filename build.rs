//! Build script: tells the crate which CPython it is built for.
//!
//! pyo3-ffi (`links = "python"`) publishes the interpreter it configured as
//! hex-encoded `key=value` lines in `DEP_PYTHON_PYO3_CONFIG`; we turn its
//! version into `Py_3_11` ... `Py_3_15` cfgs (each one set for that version
//! and every later one), as pyo3-ffi does for itself, so the adapter can
//! follow C-API differences between versions, and a free-threaded build
//! (`Py_GIL_DISABLED` in its build flags) into `Py_GIL_DISABLED`. Nothing
//! in the crate needs C, so there is no `cc` step (the design keeps one for
//! what Rust cannot express) and no `cc` dependency.

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

/// The newest CPython minor version the adapter knows (pyo3-ffi 0.30.1's
/// newest too).
const NEWEST_MINOR: u32 = 15;

fn pyo3_config() -> Option<String> {
    let config = std::env::var("DEP_PYTHON_PYO3_CONFIG").ok()?;
    String::from_utf8(unhex(&config)).ok()
}

fn config_value<'a>(config: &'a str, key: &str) -> Option<&'a str> {
    config
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

fn python_minor(config: &str) -> Option<u32> {
    let version = config_value(config, "version")?;
    version.trim().split('.').nth(1)?.parse().ok()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_PYTHON_PYO3_CONFIG");
    let config = pyo3_config().unwrap_or_default();
    let minor = python_minor(&config).unwrap_or(11);
    for m in 11..=minor.max(NEWEST_MINOR) {
        println!("cargo:rustc-check-cfg=cfg(Py_3_{m})");
    }
    println!("cargo:rustc-check-cfg=cfg(Py_GIL_DISABLED)");
    for m in 11..=minor {
        println!("cargo:rustc-cfg=Py_3_{m}");
    }
    let flags = config_value(&config, "build_flags").unwrap_or("");
    if flags
        .split(',')
        .any(|flag| flag.trim() == "Py_GIL_DISABLED")
    {
        println!("cargo:rustc-cfg=Py_GIL_DISABLED");
    }
}
