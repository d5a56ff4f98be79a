//! Guards the layering of the pure core: `wire` <- `tls` <- `flow` <- `engine` -> `tally`, with
//! `upgrade` beside `tls` and the closed-set vocabulary (`closed`) under all of them. A core
//! module may name (`crate::…`) only the modules below it; none names capture, pipeline,
//! metrics, events, report, the run layer or the binary.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each core module and the crate modules it may name (besides itself).
const ALLOWED: [(&str, &[&str]); 7] = [
    ("wire", &["closed"]),
    ("tls", &["closed", "wire"]),
    // QUIC and DTLS are extraction like `tls` (pure: Initial decryption, record framing and
    // fragment reassembly), handing their hellos to `tls`.
    ("quic", &["closed", "tls"]),
    ("dtls", &["closed", "tls"]),
    ("upgrade", &["closed", "tls"]),
    (
        "flow",
        &["closed", "wire", "tls", "quic", "dtls", "upgrade"],
    ),
    ("tally", &["closed", "wire", "tls", "upgrade", "flow"]),
];

fn sources(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            sources(&e.path(), out);
        }
    } else if p.is_file() && p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// The crate modules a source file names: `crate::x` in `use` lines and paths, and the
/// first segment of each name in `use crate::{x, y::…}` groups.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let body = &group[..group.find('}').unwrap_or(group.len())];
            for item in body.split(',') {
                let m = ident(item.trim());
                if !m.is_empty() {
                    found.insert(m);
                }
            }
        } else {
            let m = ident(rest);
            if !m.is_empty() {
                found.insert(m);
            }
        }
    }
    found
}

#[test]
fn the_pure_core_names_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for (module, allowed) in ALLOWED {
        let mut files = Vec::new();
        sources(&src.join(module), &mut files);
        sources(&src.join(format!("{module}.rs")), &mut files);
        assert!(!files.is_empty(), "no sources for {module}");
        for f in files {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
            for m in named_modules(&text) {
                if m != module && !allowed.contains(&m.as_str()) {
                    bad.push(format!("{} names crate::{m}", f.display()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn the_scanner_sees_paths_and_groups() {
    let m = named_modules("use crate::{tls::Version, flow};\nlet x = crate::metrics::names::ALL;");
    assert_eq!(
        m.into_iter().collect::<Vec<_>>(),
        ["flow", "metrics", "tls"]
    );
}
